"""The methods by name: each factory composes estimators, transforms, blocks and loss terms.

Defaults follow the official code as summarised in ``shared/research/seed_methods.md``; every
choice that code leaves open is an option (recipe field ``method_options``) and documented here.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from brevitas.nn import QuantIdentity
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods import BlockFactory, Method
from hw_bnn.methods.adabin import AdaBinActivation, AdaBinWeight, Maxout
from hw_bnn.methods.bdbnn import (KurtosisRegulariser, distillation_loss, released_weight_loss,
                                  weight_mimicking_loss)
from hw_bnn.methods.dybnn import DynamicActivation, ResidualRPReLU
from hw_bnn.methods.estimators import check_estimator, make_estimator
from hw_bnn.methods.hyper import FLOAT_HYPER_BLOCKER
from hw_bnn.methods.irnet import BalancedWeight
from hw_bnn.methods.layers import BinaryWeight, EstimatedSign
from hw_bnn.methods.losses import DistillationTerm, KurtosisTerm, WeightMimickingTerm
from hw_bnn.methods.sdbnn import SqueezeExcitationShift, StaticActivationShift, WeightSelfDistribution
from hw_bnn.quant import BipolarAct

def _schedule(estimator: str, t_min: float, t_max: float) -> dict:
    """The estimator's options: EDE takes its t schedule, the others take none (an unknown name is refused
    here, when the recipe loads, not when the first layer is built)."""
    check_estimator(estimator)
    return {"t_min": t_min, "t_max": t_max} if estimator == "ede" else {}


def _sign_after(estimator: str, estimator_options: dict, *before: Callable[[int], nn.Module]):
    """Block factory: ``before`` modules, then the sign with ``estimator``'s gradient in training,
    then Brevitas' bipolar quantizer (the sign the export and the hardware see)."""
    def block(channels: int) -> nn.Module:
        return nn.Sequential(*(make(channels) for make in before),
                             EstimatedSign(make_estimator(estimator, **estimator_options)),
                             QuantIdentity(act_quant=BipolarAct))
    return block


def baseline(estimator: str | None = None, t_min: float = 1e-3, t_max: float = 10.0) -> Method:
    """BinaryNet / BNN-PYNQ: sign of weights and activations. Brevitas' straight-through estimator by
    default; ``estimator`` (clipped_identity, approx_sign, ede) replaces it on weights and activations."""
    if estimator is None:
        return Method("baseline", options={})
    opts = _schedule(estimator, t_min, t_max)
    return Method("baseline", weight_transform=lambda _: BinaryWeight(make_estimator(estimator, **opts)),
                  activation=_sign_after(estimator, opts), options={"estimator": estimator, **opts})


def irnet(t_min: float = 1e-3, t_max: float = 10.0) -> Method:
    """IR-Net (``hw_bnn.methods.irnet``): Libra-PB balanced weights (the sign of the per-output-channel
    standardised latent weight) and EDE on weights and activations (T_min 1e-3 .. T_max 10, the CIFAR code);
    the power-of-two weight scale is left out, as the BatchNorm after every conv divides it out."""
    opts = _schedule("ede", t_min, t_max)
    return Method("irnet", weight_transform=lambda _: BalancedWeight(make_estimator("ede", **opts)),
                  activation=_sign_after("ede", opts), options=opts)


def _sdbnn(name: str, shift: Callable[[int], nn.Module], blocker: str | None, estimator: str,
           weight_estimator: str | None, t_min: float, t_max: float, options: dict) -> Method:
    opts = _schedule(estimator, t_min, t_max)
    weight_estimator = weight_estimator or estimator
    weight_opts = _schedule(weight_estimator, t_min, t_max)
    return Method(
        name,
        weight_transform=lambda out: WeightSelfDistribution(out, make_estimator(weight_estimator, **weight_opts)),
        activation=_sign_after(estimator, opts, shift),
        hardware_blocker=blocker,
        options={"estimator": estimator, "weight_estimator": weight_estimator, **opts, **options},
    )


def sdbnn_static(estimator: str = "ede", weight_estimator: str | None = None, t_min: float = 1e-3,
                 t_max: float = 10.0) -> Method:
    """SD-BNN with WSD and the static ASD sigma(beta_c) (the variant the released code keeps commented
    out; seed_methods §2.1): folds into XNOR + per-channel thresholds. EDE on weights and activations
    with T_min 1e-3 (ResNet) .. T_max 10, as the CIFAR code; ``weight_estimator`` (default: ``estimator``)
    gives the weights their own, as the ImageNet code: ``estimator: approx_sign``,
    ``weight_estimator: clipped_identity``."""
    return _sdbnn("sdbnn_static", StaticActivationShift, None, estimator, weight_estimator, t_min, t_max, {})


def _hyper_blocker(hyper_bits: int | None) -> str | None:
    return FLOAT_HYPER_BLOCKER if hyper_bits is None else None


def sdbnn_se(estimator: str = "ede", weight_estimator: str | None = None, t_min: float = 1e-3, t_max: float = 10.0,
             reduction: int = 16, hyper_bits: int | None = 4, hyper_output_bits: int = 4) -> Method:
    """SD-BNN as released: WSD, and ASD as a per-sample squeeze-excitation shift (reduction 16 on CIFAR).
    Estimators as ``sdbnn_static`` (the ImageNet code: ApproxSign on activations, clipped STE on weights).

    ``hyper_bits``: the squeeze-excitation branch is quantisation-aware at this fixed-point width
    (pooled input, weights, hidden ReLU), with a sigmoid of 2^``hyper_output_bits`` levels, so it maps
    to per-frame threshold hardware; ``null`` keeps the released float branch (training only)."""
    return _sdbnn("sdbnn_se", partial(SqueezeExcitationShift, reduction=reduction, bits=hyper_bits,
                                      output_bits=hyper_output_bits), _hyper_blocker(hyper_bits),
                  estimator, weight_estimator, t_min, t_max, {"reduction": reduction, "hyper_bits": hyper_bits,
                                            "hyper_output_bits": hyper_output_bits})


def bdbnn(kurtosis_target: float = 1.8, kurtosis_weight: float = 1.0, kurtosis_mode: str = "avg",
          kurtosis_start_epoch: int = 0, per_layer_targets: list[float] | None = None,
          mimicking: str = "softmax", mimicking_weight: float = 1.0, mimicking_temperature: float = 6.0,
          distillation_weight: float = 0.9, estimator: str = "ede", t_min: float = 1e-2, t_max: float = 10.0,
          teacher: str | None = None, teacher_epochs: int | None = None) -> Method:
    """BD-BNN: the plain sign BNN trained with the kurtosis regulariser (target 1.8, lambda 1, as the
    released defaults), weight-distribution mimicking from a full-precision teacher of the same
    architecture, and logit distillation (alpha 0.9); EDE with T_min 1e-2 as the code's ``--ede``.

    ``mimicking``: ``softmax`` (default; KL of softmax over input channels at temperature 6, the
    released file's DistributionLoss_layer_cifar_act) or ``released`` (the released
    DistributionLoss_layer, linear in the student weights, so it only drifts them; kept for
    comparison, with the released weight 200 as a sensible ``mimicking_weight``), or ``none``.
    ``teacher``: path of a trained teacher ``model.pt``; without it the train stage trains one
    (``teacher_epochs``, default the recipe's epochs) into OUT/teacher.
    """
    losses = {"softmax": partial(weight_mimicking_loss, temperature=mimicking_temperature),
              "released": released_weight_loss, "none": None}
    if mimicking not in losses:
        raise HwBnnError(f"bdbnn: mimicking must be one of {sorted(losses)}, not {mimicking!r}")
    opts = _schedule(estimator, t_min, t_max)
    terms = [KurtosisTerm(KurtosisRegulariser(kurtosis_target, kurtosis_weight, kurtosis_mode,
                                              kurtosis_start_epoch, per_layer_targets))]
    if losses[mimicking] is not None:
        terms.append(WeightMimickingTerm(losses[mimicking], mimicking_weight))
    if distillation_weight:
        terms.append(DistillationTerm(distillation_loss, distillation_weight))
    needs_teacher = len(terms) > 1
    return Method(
        "bdbnn",
        weight_transform=lambda _: BinaryWeight(make_estimator(estimator, **opts)),
        activation=_sign_after(estimator, opts),
        loss_terms=tuple(terms),
        needs_teacher=needs_teacher,
        options={"kurtosis_target": kurtosis_target, "kurtosis_weight": kurtosis_weight,
                 "kurtosis_mode": kurtosis_mode, "kurtosis_start_epoch": kurtosis_start_epoch,
                 "per_layer_targets": per_layer_targets, "mimicking": mimicking,
                 "mimicking_weight": mimicking_weight, "mimicking_temperature": mimicking_temperature,
                 "distillation_weight": distillation_weight, "estimator": estimator, **opts,
                 "teacher": teacher, "teacher_epochs": teacher_epochs},
    )


def adabin(activation_form: str = "paper", t_min: float = 1e-3, t_max: float = 10.0) -> Method:
    """AdaBin: weights alpha_w*sign(w - beta_w) + beta_w (per-output-channel mean/std, EDE), activations
    alpha_a*sign(x - beta_a) + centre (learnable per-layer scalars, ApproxSign) after a per-channel
    Maxout. ``activation_form``: ``paper`` (centre beta_a, the author's fix in AB-iss57) or ``code``
    (alpha_a*(s + beta_a), as the released checkpoint)."""
    if activation_form not in ("paper", "code"):
        raise HwBnnError(f"adabin: activation_form must be 'paper' or 'code', not {activation_form!r}")

    def block(channels: int) -> nn.Module:
        return nn.Sequential(Maxout(channels), AdaBinActivation(make_estimator("approx_sign"), form=activation_form))

    return Method(
        "adabin", weight_quant=None,
        weight_transform=lambda _: AdaBinWeight(make_estimator("ede", t_min=t_min, t_max=t_max)),
        activation=block,
        # Residual nets: Maxout after every residual sum, the adaptive sign alone at the conv input.
        binarizer_block=lambda _: AdaBinActivation(make_estimator("approx_sign"), form=activation_form),
        residual_activation=Maxout,
        stem_activation=Maxout,
        options={"activation_form": activation_form, "t_min": t_min, "t_max": t_max},
    )


def dybnn(reduction: int = 16, bound: float | None = None, hyper_bits: int | None = 4,
          hyper_output_bits: int = 2, residual_shifts: str = "dynamic") -> Method:
    """DyBNN (a documented reconstruction, see ``hw_bnn.methods.dybnn``): ReActNet's RPReLU and RSign
    with channel-wise shifts and thresholds produced per sample by a hyper-function; ApproxSign on
    activations, Brevitas' straight-through estimator on the weights (ReActNet's positive weight scale
    is absorbed by the BatchNorm that follows every binary layer here).

    ``hyper_bits``: quantisation-aware hyper-function at this fixed-point width, each of its dynamic
    values on 2^``hyper_output_bits`` - 1 levels symmetric around 0 (the hardware's threshold
    table holds (2^hyper_output_bits - 1)^3 entries per channel: 27 for 2 bits); ``null``: float
    hyper-function (training only). ``bound``: the dynamic values' range, by default 1.0 for the float
    hyper-function and 0.25 for the quantised one, whose three levels would otherwise move a threshold
    by a whole BatchNorm standard deviation per step (Fashion-MNIST MLP, 5 epochs: 70.4 % at 1.0,
    79.9 % at 0.25, float 79.7 %).

    Residual nets (as ReActNet): the dynamic RSign at each binary conv's input, the RPReLU after each
    residual sum, its shifts per sample (``residual_shifts: dynamic``: a per-frame multi-level threshold
    unit in hardware) or static (``static``: ReActNet's RPReLU, folded into the join's thresholds); both
    map to the residual hardware exactly."""
    if bound is None:
        bound = 1.0 if hyper_bits is None else 0.25
    if residual_shifts not in ("dynamic", "static"):
        raise HwBnnError(f"dybnn: residual_shifts must be 'dynamic' or 'static', not {residual_shifts!r}")
    hyper = {"reduction": reduction, "bound": bound, "bits": hyper_bits, "output_bits": hyper_output_bits}

    def binarizer(rprelu: bool) -> BlockFactory:
        return lambda channels: nn.Sequential(
            DynamicActivation(channels, make_estimator("approx_sign"), rprelu=rprelu, **hyper),
            QuantIdentity(act_quant=BipolarAct))

    return Method("dybnn", activation=binarizer(rprelu=True), binarizer_block=binarizer(rprelu=False),
                  residual_activation=lambda channels: ResidualRPReLU(
                      channels, dynamic=residual_shifts == "dynamic", **hyper),
                  hardware_blocker=_hyper_blocker(hyper_bits),
                  options={"reduction": reduction, "bound": bound, "hyper_bits": hyper_bits,
                           "hyper_output_bits": hyper_output_bits, "residual_shifts": residual_shifts})


def full_precision() -> Method:
    """Float weights and hardtanh activations: the teacher of BD-BNN, and an accuracy reference."""
    return Method("full_precision", weight_quant=None, activation=lambda _: nn.Hardtanh(),
                  hardware_blocker="float weights and activations (a reference, not a BNN)")


METHODS: dict[str, Callable[..., Method]] = {
    "baseline": baseline,
    "irnet": irnet,
    "sdbnn_static": sdbnn_static,
    "sdbnn_se": sdbnn_se,
    "bdbnn": bdbnn,
    "adabin": adabin,
    "dybnn": dybnn,
    "full_precision": full_precision,
}
