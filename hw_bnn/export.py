"""Check that a PyTorch/Brevitas model is a BNN the flow supports, and export it to QONNX."""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from pathlib import Path

import torch
from brevitas.export import export_qonnx
from brevitas.nn import QuantConv2d, QuantHardTanh, QuantIdentity, QuantLinear, QuantReLU
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model
from torch import nn
from torch.nn.utils import parametrize

from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path

#: Layer types the flow maps to hardware, and the containers/no-ops around them.
COMPUTE_LAYERS = (QuantLinear, QuantConv2d)
ACTIVATION_LAYERS = (QuantIdentity, QuantHardTanh, QuantReLU)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)

#: Data type of the exported graph's input: raw 8-bit pixels.
INPUT_DATATYPE = "UINT8"


def _leaf_modules(model: nn.Module):
    """Named modules the flow has to map, skipping containers and Brevitas' own internals."""
    brevitas_layers = COMPUTE_LAYERS + ACTIVATION_LAYERS
    skip_prefixes: list[str] = []
    for name, module in model.named_modules():
        if name == "" or any(name.startswith(p) for p in skip_prefixes):
            continue
        if isinstance(module, brevitas_layers) or getattr(module, "maps_to_thresholds", False):
            skip_prefixes.append(name + ".")
            yield name, module
        elif isinstance(module, CONTAINERS):
            continue
        elif list(module.children()):
            # A user block (e.g. a residual block of their own): look inside it.
            continue
        else:
            yield name, module


def _one_bit_but_not_binary(proxy) -> str | None:
    """What a 1-bit quantizer outputs when it is not the symmetric binary {-s, +s}: Brevitas' 1-bit
    integer quantizers give {-s, 0} (signed) or {0, s} (unsigned), yet its QONNX export of the signed
    one is a BipolarQuant (+-s), so the exported graph would not be the model. None when it binarises."""
    if not proxy.is_quant_enabled or int(proxy.bit_width()) != 1:
        return None
    if not proxy.is_signed:
        return "{0, s}"
    return None if proxy.is_narrow_range else "{-s, 0}"


def refuse_blocked_modules(model: nn.Module) -> None:
    """Raise HwBnnError naming the first method module with a ``hardware_blocker`` (e.g. a float
    hyper-function)."""
    for name, module in model.named_modules():
        blocker = getattr(module, "hardware_blocker", None)
        if isinstance(blocker, str):
            layer, _, transformed = name.partition(".parametrizations.")
            what = f"weight transform {type(module).__name__}" if transformed else type(module).__name__
            raise HwBnnError(f"layer '{layer}' ({what}) is not mappable to hardware yet: {blocker}. "
                             f"Train-only recipes (stages: [train]) work as they are")


def check_supported(model: nn.Module) -> None:
    """Raise HwBnnError naming the first layer the flow cannot map to a binary dataflow accelerator,
    for what the exported graph cannot show.

    The graph decides everything it can (``hw_bnn.compiler``): weight and activation bit widths, biases,
    affines such as BNN-PYNQ's TensorNorm or the user's own modules, float layers; its errors name the
    ONNX node and the PyTorch module. Refused here: method modules with a ``hardware_blocker``, a model
    without any QuantLinear/QuantConv2d, and 1-bit quantizers that do not binarise (two levels of which
    one is 0): the graph Brevitas exports for those is not what the model computes.
    """
    refuse_blocked_modules(model)
    found_compute = False
    for name, module in _leaf_modules(model):
        if getattr(module, "maps_to_thresholds", False):
            continue
        if isinstance(module, COMPUTE_LAYERS):
            found_compute = True
            proxy, what, kind, fix = module.weight_quant, "weight", "Weight", "weight_quant=hw_bnn.quant.BipolarWeight"
        elif isinstance(module, ACTIVATION_LAYERS):
            proxy, what, kind, fix = module.act_quant, "activation", "Act", "act_quant=hw_bnn.quant.BipolarAct"
        else:
            continue
        levels = _one_bit_but_not_binary(proxy)
        if levels:
            raise HwBnnError(
                f"layer '{name}' ({type(module).__name__}) has a 1-bit integer {what} quantizer: its two "
                f"levels are {levels}, not the binary {{-s, +s}} an XNOR layer computes (and Brevitas exports "
                f"it as if it were binary). Use a binary quantizer: {fix}, brevitas.quant."
                f"SignedBinary{kind}PerTensorConst, or BNN-PYNQ's Common{kind}Quant at bit_width=1"
            )
    if not found_compute:
        raise HwBnnError("the model has no QuantLinear or QuantConv2d layer: nothing to map to hardware")


def deployable(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """An eval-mode copy of ``model`` in the form the hardware computes; the trained model is not modified.

    - AdaBin layers become an XNOR layer with an all-ones row plus the integer combine-and-threshold
      (``hw_bnn.features.adabin.deploy``).
    - Per-sample threshold blocks (SD-BNN's squeeze-excitation, DyBNN) become the integer per-frame
      threshold unit (``hw_bnn.features.dynamic_threshold.deploy``); their pooled thresholds depend on each map's
      pixel count, so these models need ``input_shape`` (C, H, W).
    - Other weight transforms (SD-BNN's WSD, a custom estimator) are parametrizations whose output is
      already the +-1 weight; the copy stores that weight, which Brevitas' bipolar quantizer then
      exports unchanged.
    - The residual CIFAR architectures (``hw_bnn.models.cifar``) become their integer form
      (``hw_bnn.features.residual.integer_form``), which needs ``input_shape`` for the pooled pixel count.
    """
    from hw_bnn.features.adabin import deploy as adabin
    from hw_bnn.features.dynamic_threshold import deploy as dynamic_threshold
    from hw_bnn.features.residual.integer_form import IntegerForm, is_residual_architecture, to_integer_form

    if isinstance(model, IntegerForm):
        return model.eval()
    model = copy.deepcopy(model).eval()
    if is_residual_architecture(model):
        if input_shape is None:
            raise HwBnnError("residual architectures: deployable() needs the input_shape (C, H, W)")
        return to_integer_form(model, input_shape)
    for feature in (adabin, dynamic_threshold):  # each feature rewrites its own layers
        if feature.has_layers(model):
            feature.to_hardware_form(model, input_shape)
    for module in model.modules():
        if parametrize.is_parametrized(module):
            # deepcopy shares torch's generated Parametrized<Layer> class with the original, and
            # removing a parametrization deletes its property from that class: give the copy its own.
            shared = type(module)
            module.__class__ = type(shared.__name__, shared.__bases__, dict(shared.__dict__))
            for tensor_name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)
    return model


def export_model(model: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> ModelWrapper:
    """Export ``model`` (in eval mode) to a cleaned-up QONNX file at ``path`` and return it.

    The graph input is annotated as UINT8: the flow feeds raw 8-bit pixels, and FINN needs
    to know the input is integer to turn the first binarisation into integer thresholds.
    """
    from hw_bnn.features.residual.integer_form import IntegerForm, is_residual_architecture
    from hw_bnn.features.residual.passes import AnnotateIntegerInitializers

    residual = is_residual_architecture(model) or isinstance(model, IntegerForm)
    model = deployable(model, input_shape)
    if not residual:  # the integer form's converter has checked every layer it maps
        check_supported(model)
    path = Path(path)
    # The exporter may write large weights to a side file (<name>.data): export into a
    # scratch folder, load everything in, and save one self-contained file atomically.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        narration = io.StringIO()  # the torch.onnx exporter narrates every phase on stdout
        try:
            with torch.no_grad(), contextlib.redirect_stdout(narration):
                export_qonnx(model, input_t=torch.zeros(1, *input_shape), export_path=str(raw))
        except Exception as exc:
            raise HwBnnError(f"QONNX export failed ({type(exc).__name__}: {exc}); exporter log:\n"
                             f"{narration.getvalue()}") from exc
        wrapper = cleanup_model(ModelWrapper(str(raw)))
    if residual:
        wrapper = wrapper.transform(AnnotateIntegerInitializers())
    wrapper.set_tensor_datatype(wrapper.graph.input[0].name, DataType[INPUT_DATATYPE])
    with atomic_path(path) as tmp:
        wrapper.save(str(tmp))
    return wrapper


def load_qonnx(path: str | Path, fix: str = "run 'hw-bnn export' first or fix the path") -> ModelWrapper:
    """Load an ONNX file, with a clear error if it is missing, corrupt or not a QONNX graph.

    ``fix`` ends the error message: what the user runs to remake the file.
    """
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"ONNX file {path} does not exist; {fix}")
    try:
        model = ModelWrapper(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise HwBnnError(f"{path} is not a readable ONNX file, it is truncated or corrupt "
                         f"({type(exc).__name__}: {str(exc)[:200]}); {fix}") from exc
    if len(model.graph.input) != 1 or len(model.graph.output) != 1 or not model.graph.node:
        raise HwBnnError(
            f"{path} is not a single-input, single-output QONNX graph "
            f"({len(model.graph.input)} inputs, {len(model.graph.output)} outputs, {len(model.graph.node)} nodes); "
            f"{fix}"
        )
    return model
