"""Training loop: seeded, resumable, with a progress bar and an atomic checkpoint per epoch."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hw_bnn.config import Config, dump_config
from hw_bnn.data import Dataset
from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path
from hw_bnn.methods.losses import LossContext, is_binary_layer, latent_weights

CHECKPOINT = "checkpoint.pt"
FINAL_MODEL = "model.pt"


class ScaledCrossEntropy(nn.Module):
    """Cross-entropy on ``logits * exp(log_scale)`` with a learnable scale.

    The models output exact integer dot products (up to +-K for K inputs), far too sharp
    for a softmax. A learnable temperature in the loss keeps the model itself integer
    (hardware-exact) while training well; a positive scale never changes the argmax.
    """

    def __init__(self, init_scale: float):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits * self.log_scale.exp(), labels)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def as_float(images: np.ndarray) -> torch.Tensor:
    """uint8 images -> float tensor of the same integer values (the models' input)."""
    return torch.from_numpy(images.astype(np.float32))


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Eval-mode outputs of ``model`` for uint8 ``images``, as a float32 array."""
    model.eval()
    outputs = [model(as_float(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(outputs).numpy()


def _initial_temperature(model: nn.Module) -> float:
    """1/sqrt(fan-in) when the last layer is a Brevitas binary layer (its outputs are dot products
    of +-1 vectors, up to +-fan-in); 1 for a multi-bit or float classifier (the CIFAR architectures)."""
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    if is_binary_layer(last):
        return 1.0 / math.sqrt(int(np.prod(latent_weights(model)[-1][1].shape[1:])))
    return 1.0


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop after 4-pixel zero padding, and random horizontal flip (the CIFAR recipes)."""
    n, _, height, width = images.shape
    padded = nn.functional.pad(images, (4, 4, 4, 4))
    rows = torch.randint(0, 9, (n,), generator=generator)
    cols = torch.randint(0, 9, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(images)
    for i in range(n):
        crop = padded[i, :, rows[i]:rows[i] + height, cols[i]:cols[i] + width]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def _set_epoch(model: nn.Module, epoch: int, epochs: int) -> None:
    """Tell scheduled estimators (e.g. IR-Net's EDE) which epoch starts."""
    for module in model.modules():
        if hasattr(module, "set_epoch"):
            module.set_epoch(epoch, epochs)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_saved(path: str | Path) -> dict:
    """What :func:`train` saved at ``path`` (``model.pt``): weights, learned temperature, config, history."""
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"no trained model at {path}; run 'hw-bnn train' with the same --out first")
    return torch.load(path, map_location="cpu", weights_only=False)


def load_model_state(model: nn.Module, path: str | Path, state: dict | None = None) -> nn.Module:
    """Load trained weights saved by :func:`train` into a freshly built ``model``
    (``state``: the file's contents when the caller has read them already)."""
    path = Path(path)
    state = state if state is not None else read_saved(path)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise HwBnnError(f"{path} does not match the configured architecture ({exc}); "
                         f"use the config it was trained with") from None
    return model


def train(model: nn.Module, dataset: Dataset, config: Config, out_dir: str | Path,
          resume: bool = False, show_progress: bool = True, teacher: nn.Module | None = None) -> dict:
    """Train ``model`` on ``dataset``; write ``checkpoint.pt`` each epoch and ``model.pt`` at the end.

    ``teacher`` (frozen, eval mode) feeds the loss terms of methods that need one (BD-BNN).
    Returns the history: per-epoch loss, train accuracy and test accuracy.
    """
    cfg = config.train
    out_dir = Path(out_dir)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    method = config.get_method()
    if method.needs_teacher and teacher is None:
        raise HwBnnError(f"method {method.name} needs a full-precision teacher; train one with "
                         f"'hw-bnn teacher' (the train stage does it when the recipe names none)")
    criterion = ScaledCrossEntropy(init_scale=_initial_temperature(model))
    params = list(model.parameters()) + list(criterion.parameters())
    optimizer = make_optimizer(params, cfg)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs))
    history: list[dict] = []
    start_epoch = 0
    checkpoint_path = out_dir / CHECKPOINT
    if resume:
        if not checkpoint_path.is_file():
            raise HwBnnError(f"--resume: no checkpoint at {checkpoint_path}; train without --resume first")
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        criterion.load_state_dict(state["criterion"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        history, start_epoch = state["history"], state["epoch"] + 1

    x_train, y_train = as_float(dataset.train_x), torch.from_numpy(dataset.train_y)
    generator = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(start_epoch, cfg.epochs):
        generator.manual_seed(cfg.seed + epoch)
        order = torch.randperm(len(x_train), generator=generator)
        model.train()
        _set_epoch(model, epoch, cfg.epochs)
        total_loss, correct, seen = 0.0, 0, 0
        batches = range(0, len(order), cfg.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=None if show_progress else True, leave=False)
        for start in bar:
            index = order[start:start + cfg.batch_size]
            images = _augment(x_train[index], generator) if cfg.augment else x_train[index]
            logits = model(images)
            loss = criterion(logits, y_train[index])
            extra = method.extra_loss(LossContext(model, images, logits * criterion.log_scale.exp(), epoch,
                                                  cfg.epochs, teacher))
            if extra is not None:
                loss = loss + extra
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(1) == y_train[index]).sum())
            seen += len(index)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        scheduler.step()
        test_acc = float((predict(model, dataset.test_x).argmax(1) == dataset.test_y).mean())
        history.append({"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen,
                        "test_acc": test_acc})
        if show_progress:
            tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: loss {total_loss / seen:.4f}, "
                       f"train acc {correct / seen:.4f}, test acc {test_acc:.4f}")
        _save(checkpoint_path, {
            "model": model.state_dict(), "criterion": criterion.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch,
        })
    _save(out_dir / FINAL_MODEL, {"model": model.state_dict(), "criterion": criterion.state_dict(),
                                  "config": dump_config(config), "history": history})
    return {"epochs": history}
