import pytest
import torch

from hw_bnn.config import load_config
from hw_bnn.data import load_dataset
from hw_bnn.errors import HwBnnError
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.train import CHECKPOINT, FINAL_MODEL, ScaledCrossEntropy, load_model_state, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=400, n_test=100)


def config(epochs):
    return load_config(None, [f"train.epochs={epochs}", "train.batch_size=50", "train.lr=0.02", "data.name=digits"])


def fresh(ds):
    torch.manual_seed(0)
    return BinaryMLP(input_shape=ds.input_shape, hidden=(32, 32))


def test_training_learns_and_writes_checkpoints(digits, tmp_path):
    history = train(fresh(digits), digits, config(8), tmp_path, show_progress=False)["epochs"]
    assert len(history) == 8
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["test_acc"] > 0.5  # 10 classes: chance is 0.1
    assert (tmp_path / CHECKPOINT).is_file() and (tmp_path / FINAL_MODEL).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_training_is_reproducible_and_resume_matches(digits, tmp_path, monkeypatch):
    import hw_bnn.train as training

    a, b = fresh(digits), fresh(digits)
    train(a, digits, config(2), tmp_path / "a", show_progress=False)
    real_save = training._save

    def crash_after_first_checkpoint(path, state):
        real_save(path, state)
        raise KeyboardInterrupt("killed after epoch 1")

    monkeypatch.setattr(training, "_save", crash_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(b, digits, config(2), tmp_path / "b", show_progress=False)
    monkeypatch.setattr(training, "_save", real_save)
    resumed = fresh(digits)
    history = train(resumed, digits, config(2), tmp_path / "b", resume=True, show_progress=False)["epochs"]
    assert [h["epoch"] for h in history] == [1, 2]
    for (name, pa), (_, pr) in zip(a.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(pa, pr), name


def test_resume_without_checkpoint_and_loading_wrong_model(digits, tmp_path):
    with pytest.raises(HwBnnError, match="no checkpoint"):
        train(fresh(digits), digits, config(1), tmp_path, resume=True, show_progress=False)
    with pytest.raises(HwBnnError, match="no trained model"):
        load_model_state(fresh(digits), tmp_path / FINAL_MODEL)
    train(fresh(digits), digits, config(1), tmp_path, show_progress=False)
    other = BinaryMLP(input_shape=digits.input_shape, hidden=(16,))
    with pytest.raises(HwBnnError, match="does not match the configured architecture"):
        load_model_state(other, tmp_path / FINAL_MODEL)


def test_scaled_cross_entropy_scale_is_learnable():
    loss = ScaledCrossEntropy(init_scale=0.1)
    logits = torch.tensor([[10.0, -10.0]])
    value = loss(logits, torch.tensor([0]))
    expected = torch.nn.functional.cross_entropy(logits * 0.1, torch.tensor([0]))
    assert torch.allclose(value, expected)
    value.backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad != 0


def test_train_stage_is_reproducible_from_the_seed(tmp_path):
    """Two runs of the same recipe give the same weights, initialisation included."""
    from hw_bnn import flow

    cfg = load_config(None, ["data.name=digits", "data.n_train=200", "train.epochs=1", "model.options.hidden=[16]"])
    weights = []
    for run in ("a", "b"):
        flow.train_stage(cfg, tmp_path / run, progress=lambda message: None)
        weights.append(torch.load(tmp_path / run / FINAL_MODEL, weights_only=False)["model"])
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


@pytest.mark.parametrize("decay_on", ["weights", "all"])
def test_weight_decay_reaches_the_weights_and_never_the_loss_temperature(decay_on):
    """ReActNet's and BD-BNN's optimisers decay conv/FC weights only; a plain SGD(model.parameters()) decays
    every model parameter; the loss's learnable temperature (ours) is never decayed. One Adam step with a
    zero gradient moves exactly the decayed parameters."""
    from hw_bnn.config import TrainConfig
    from hw_bnn.models.cifar import BinaryResNet20
    from hw_bnn.train import make_optimizer, parameter_groups

    model = BinaryResNet20(method="adabin", width=0.25, blocks_per_stage=1)
    criterion = ScaledCrossEntropy(init_scale=3.0)
    cfg = TrainConfig(weight_decay=0.1, weight_decay_on=decay_on)
    before = {name: p.detach().clone() for name, p in [*model.named_parameters(), *criterion.named_parameters()]}
    optimizer = make_optimizer(parameter_groups(model, criterion, cfg), cfg, lr=0.01)
    for p in [*model.parameters(), *criterion.parameters()]:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    moved = {name for name, p in [*model.named_parameters(), *criterion.named_parameters()]
             if not torch.equal(p.detach(), before[name])}
    matrices = {name for name, p in model.named_parameters() if p.dim() >= 2}
    norms = {name for name in before if "norm" in name or name.endswith("bias")}
    assert not moved & set(dict(criterion.named_parameters()))
    if decay_on == "weights":
        assert moved == {name for name in matrices if before[name].abs().sum() > 0} and not moved & norms
    else:
        assert moved & norms and moved >= {name for name in matrices if before[name].abs().sum() > 0}
