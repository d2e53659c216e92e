"""Model architectures by name, and the bridge to a user's own model factory."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Callable

from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.io import load_torch_weights, state_dict_of
from hw_bnn.models.cifar import BinaryReActNet, BinaryResNet18, BinaryResNet20, BinaryVGGSmall
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.imagenet import BinaryReActNetA, imagenet_resnet18, imagenet_resnet34
from hw_bnn.models.mlp import BinaryMLP

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": BinaryMLP,
    "cnv": BinaryCNV,
    "vgg_small": BinaryVGGSmall,
    "resnet20": BinaryResNet20,
    "resnet18": BinaryResNet18,
    "reactnet": BinaryReActNet,
    "imagenet_resnet18": imagenet_resnet18,
    "imagenet_resnet34": imagenet_resnet34,
    "reactnet_a": BinaryReActNetA,
}


def _import_factory(spec: str) -> Callable[..., nn.Module]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HwBnnError(f"model factory {spec!r}: cannot import module {module_name!r} ({exc}); "
                         f"make it importable (PYTHONPATH) or fix model.factory") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise HwBnnError(f"model factory {spec!r}: module {module_name!r} has no callable {attr!r}")
    return factory


class ScaledInput(nn.Module):
    """``model`` fed 8-bit pixels (0..255) mapped linearly onto the ``input_range`` it expects.

    Exported, the scale is a Mul (and Add) in front of the first quantizer, which streamlining
    absorbs into its thresholds on the 8-bit pixels."""

    def __init__(self, model: nn.Module, input_range: tuple[float, float]):
        super().__init__()
        self.model = model
        self.black, self.white = (float(v) for v in input_range)

    def forward(self, x):
        x = x * ((self.white - self.black) / 255.0)
        return self.model(x + self.black if self.black else x)


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a state dict trained elsewhere into ``model`` (into the model inside a ``ScaledInput``).

    Accepts ``{"state_dict": ...}`` (BNN-PYNQ's checkpoints), ``{"model": ...}`` (hw_bnn's) or the
    plain dict, with or without DataParallel's ``module.`` prefix. The file is read weights-only
    (``hw_bnn.io.load_torch_weights``): one holding pickled objects is refused with the way to convert it."""
    target = model.model if isinstance(model, ScaledInput) else model
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"model.checkpoint {path} does not exist; fix the path")
    try:
        state = load_torch_weights(path)
    except HwBnnError as exc:
        raise HwBnnError(f"model.checkpoint {exc}") from None
    except Exception as exc:
        raise HwBnnError(f"model.checkpoint {path} is not a readable PyTorch file ({type(exc).__name__}: {exc})") \
            from None
    state = state_dict_of(state, f"model.checkpoint {path}")
    try:
        target.load_state_dict(state)
    except RuntimeError as exc:
        raise HwBnnError(f"model.checkpoint {path} does not fit the model ({str(exc)[:400]}); "
                         f"check model.factory and model.options") from None
    return model


def build_model(model_cfg, input_shape: tuple[int, int, int], num_classes: int, method: str) -> nn.Module:
    """Instantiate the configured architecture (built-in name or user factory), fed 8-bit pixels scaled to
    its ``input_range`` and started from ``checkpoint`` when the recipe names them."""
    factory = _import_factory(model_cfg.factory) if model_cfg.factory else MODELS[model_cfg.name]
    label = model_cfg.factory or model_cfg.name
    kwargs = dict(input_shape=tuple(input_shape), num_classes=num_classes, method=method, **model_cfg.options)
    accepted = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(model_cfg.options) - set(accepted))
        if unknown:
            raise HwBnnError(f"model {label!r} has no option(s) {unknown}; it accepts {sorted(accepted)}")
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise HwBnnError(f"model factory {label!r} returned {type(model).__name__}, not a torch.nn.Module")
    if tuple(model_cfg.input_range) != (0.0, 255.0):
        model = ScaledInput(model, model_cfg.input_range)
    if model_cfg.checkpoint:
        load_checkpoint(model, model_cfg.checkpoint)
    return model
