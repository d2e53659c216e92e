"""The ImageNet recipes' training machinery on a tiny net: two-step training (real weights, then binary ones
from step 1's weights), linear learning-rate decay, label smoothing."""

import pytest
import torch

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.train import ScaledCrossEntropy, make_scheduler, read_saved, start_from

TINY = ["data.n_train=300", "data.n_test=50", "train.epochs=1", "check.n_images=20", "train.batch_size=50",
        "model.options.hidden=[32,32]"]


@pytest.mark.parametrize("method", ["adabin", "baseline"])
def test_step_two_starts_from_step_one_weights(method, tmp_path):
    """Step 1: binary activations, real weights (no hardware form). Step 2: the method's binary weights, whose
    latent weights (behind AdaBin's weight transform, or plain) start as step 1's trained weights."""
    step1 = load_config("training/recipes/demo.yaml", [f"method={method}", *TINY, "train.float_weights=true"])
    assert step1.get_method().weight_quant is None and step1.get_method().weight_transform is None
    flow.train_stage(step1, tmp_path / "step1", progress=lambda _: None)
    with pytest.raises(HwBnnError, match=r"real-valued weights \(train\.float_weights.*train step 2"):
        flow.export_stage(step1, tmp_path / "step1", progress=lambda _: None)
    trained = read_saved(tmp_path / "step1" / "model.pt")["model"]

    step2 = load_config("training/recipes/demo.yaml", [f"method={method}", *TINY])
    model = flow.new_model(step2, flow.load_data(step2))
    assert start_from(model, tmp_path / "step1" / "model.pt") == []
    state = model.state_dict()
    weights = [name for name in trained if name.endswith(".weight") and trained[name].dim() == 2]
    assert weights
    for name in weights:
        mapped = name.replace(".weight", ".parametrizations.weight.original") if method == "adabin" else name
        assert torch.equal(state[mapped], trained[name]), name
    report = flow.run(load_config("training/recipes/demo.yaml", [
        f"method={method}", *TINY, f"train.init_from={tmp_path / 'step1' / 'model.pt'}",
        "stages=[train,export]"]), tmp_path / "step2_run", progress=lambda _: None)
    assert report["bit_exact"]["qonnx"] is True


def test_init_from_another_architecture_is_refused(tmp_path):
    config = load_config("training/recipes/demo.yaml", [*TINY])
    flow.train_stage(config, tmp_path / "small", progress=lambda _: None)
    wider = load_config("training/recipes/demo.yaml", [*TINY, "model.options.hidden=[48,32]",
                                                       f"train.init_from={tmp_path / 'small' / 'model.pt'}"])
    with pytest.raises(HwBnnError, match="train.init_from .* has shape .*needs the same architecture"):
        flow.train_stage(wider, tmp_path / "wide", progress=lambda _: None)


def test_linear_decay_and_label_smoothing():
    config = load_config(None, ["train.schedule=linear", "train.epochs=4", "train.lr=0.1", "train.label_smoothing=0.1"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.train.lr)
    scheduler = make_scheduler(optimizer, config.train)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.1, 0.075, 0.05, 0.025])
    logits, labels = torch.randn(8, 10), torch.arange(8)
    assert torch.allclose(ScaledCrossEntropy(1.0, 0.1)(logits, labels),
                          torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1))
    with pytest.raises(HwBnnError, match=r"label_smoothing 1\.0 must be in \[0, 1\)"):
        load_config(None, ["train.label_smoothing=1.0"])
