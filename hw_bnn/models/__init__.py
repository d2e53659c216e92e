"""Model architectures by name, and the bridge to a user's own model factory."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.models.cifar import BinaryReActNet, BinaryResNet18, BinaryResNet20, BinaryVGGSmall
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": BinaryMLP,
    "cnv": BinaryCNV,
    "vgg_small": BinaryVGGSmall,
    "resnet20": BinaryResNet20,
    "resnet18": BinaryResNet18,
    "reactnet": BinaryReActNet,
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


def build_model(model_cfg, input_shape: tuple[int, int, int], num_classes: int, method: str) -> nn.Module:
    """Instantiate the configured architecture (built-in name or user factory)."""
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
    return model
