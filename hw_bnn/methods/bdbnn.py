"""BD-BNN (Rozen et al., arXiv 2204.02004): training-time losses that shape the latent weights.

BD-BNN changes nothing at inference (seed_methods §4.7); it adds losses:

- a kurtosis regulariser that pushes each layer's latent weights towards a bimodal
  distribution (seed_methods §4.2, BD-code ``kurtosis.py``);
- weight-distribution mimicking (WDM) of a full-precision teacher's weights (§4.3);
- ReActNet's distributional loss on the logits of the same teacher (§4.3).

All are pure functions of tensors; choosing the layers and the teacher is the caller's job
(``hw_bnn.methods.losses``). Teacher tensors are detached here, so a teacher that was not
frozen still gets no gradient.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from hw_bnn.errors import HwBnnError

KURTOSIS_MODES = ("avg", "sum", "max")


def kurtosis(weight: torch.Tensor) -> torch.Tensor:
    r"""mean(((w − mean(w)) / std(w))^4) over the whole tensor (layer-wise, not per channel).

    ``std`` is torch's unbiased default, as in BD-code. Reference values: 1.8 for a uniform
    distribution, 3 for a Gaussian, 1 for a symmetric two-point distribution (seed_methods §4.2).
    """
    standardised = (weight - weight.mean()) / weight.std()
    return (standardised ** 4).mean()


class KurtosisRegulariser:
    """BD-BNN's kurtosis loss: weight · reduce_l (kurtosis(W_l) − target_l)^2, 0 before ``start_epoch``.

    Defaults are BD-code's (seed_methods §4.2): target 1.8 (uniform), λ = 1.0, ``avg``, from
    epoch 0. ``mode``: ``avg`` (mean over layers, the default), ``sum`` or ``max`` (the worst
    layer). ``per_layer_targets`` replaces ``target`` with one value per layer, in the order the
    layers are passed (BD-code's ``--diffkurt`` lists, for example).

    Call with the list of latent weight tensors and the 0-based epoch; returns a scalar tensor.
    """

    def __init__(self, target: float = 1.8, weight: float = 1.0, mode: str = "avg", start_epoch: int = 0,
                 per_layer_targets: Sequence[float] | None = None):
        if mode not in KURTOSIS_MODES:
            raise HwBnnError(f"unknown kurtosis mode {mode!r}: choose one of {list(KURTOSIS_MODES)}")
        self.target = float(target)
        self.weight = float(weight)
        self.mode = mode
        self.start_epoch = int(start_epoch)
        self.per_layer_targets = None if per_layer_targets is None else [float(t) for t in per_layer_targets]

    def __call__(self, layers: Sequence[torch.Tensor], epoch: int) -> torch.Tensor:
        if not layers:
            raise HwBnnError("the kurtosis regulariser got no layers: the model has no binary layer to regularise")
        if self.per_layer_targets is None:
            targets = [self.target] * len(layers)
        elif len(self.per_layer_targets) != len(layers):
            raise HwBnnError(f"per_layer_targets has {len(self.per_layer_targets)} values but the model has "
                             f"{len(layers)} regularised layers: give one target per layer")
        else:
            targets = self.per_layer_targets
        if epoch < self.start_epoch:
            return torch.zeros((), device=layers[0].device)
        errors = torch.stack([(kurtosis(w) - t) ** 2 for w, t in zip(layers, targets)])
        reduced = {"avg": errors.mean, "sum": errors.sum, "max": errors.max}[self.mode]()
        return self.weight * reduced


def _check_layer_pairs(student_weights: Sequence[torch.Tensor], teacher_weights: Sequence[torch.Tensor]) -> None:
    if len(student_weights) != len(teacher_weights):
        raise HwBnnError(f"weight mimicking got {len(student_weights)} student layers and "
                         f"{len(teacher_weights)} teacher layers: the teacher must have the student's architecture")
    if not student_weights:
        raise HwBnnError("weight mimicking got no layers: the model has no binary layer to compare")
    for index, (student, teacher) in enumerate(zip(student_weights, teacher_weights)):
        if student.shape != teacher.shape:
            raise HwBnnError(f"weight mimicking layer {index}: student weight {tuple(student.shape)} and teacher "
                             f"weight {tuple(teacher.shape)} differ: the teacher must have the student's architecture")


def weight_mimicking_loss(student_weights: Sequence[torch.Tensor], teacher_weights: Sequence[torch.Tensor],
                          temperature: float = 6.0) -> torch.Tensor:
    r"""WDM: per layer T² · KL(softmax(w_T/T) ‖ softmax(w_S/T)) over input channels, averaged over layers.

    Each weight is viewed as (out, in, positions): (out, in, kh·kw) for a conv, (out, in, 1) for
    a Linear. The softmax runs over ``in`` (dim 1), so each (output channel, kernel position)
    gives one distribution over the input channels. A layer's KL is the sum over ``in`` averaged
    over those distributions.

    Why this form and not the released one (seed_methods §4.3): BD-code's active WDM,
    ``DistributionLoss_layer``, is ``KLDivLoss(log_target=True)(w_S, w_T)`` =
    mean(exp(w_T)·(w_T − w_S)). That is linear in the student weights: its gradient is the
    constant −exp(w_T)/N whatever w_S is, so it drifts w_S upward forever instead of matching a
    distribution (``released_weight_loss`` keeps it as the "official-code" option). The softmax
    form is in the same released file (``DistributionLoss_layer_cifar_act``, T = 6) and is a real
    divergence: 0 exactly when the student's per-position input-channel distributions equal the
    teacher's.

    [U] choices: (1) the released sibling uses ``F.kl_div``'s default element-wise mean, which
    divides each layer's KL by C_in; we take the true KL (sum over ``in``) so the loss weight means
    the same for wide and narrow layers; multiply by 1/C_in per layer to get the released scale.
    (2) The released sibling sums over layers; we average (as our brief asks), so the loss weight
    does not grow with depth.
    """
    _check_layer_pairs(student_weights, teacher_weights)
    per_layer = []
    for student, teacher in zip(student_weights, teacher_weights):
        student_logits = student.reshape(student.shape[0], student.shape[1], -1) / temperature
        teacher_logits = teacher.detach().reshape(teacher.shape[0], teacher.shape[1], -1) / temperature
        log_p_student = F.log_softmax(student_logits, dim=1)
        log_p_teacher = F.log_softmax(teacher_logits, dim=1)
        kl_per_position = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
        per_layer.append(kl_per_position.mean() * temperature ** 2)
    return torch.stack(per_layer).mean()


def released_weight_loss(student_weights: Sequence[torch.Tensor],
                         teacher_weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """BD-code's released WDM, kept as the "official-code" option: Σ_l mean(exp(w_T)·(w_T − w_S)).

    ``KLDivLoss(log_target=True)`` applied to raw weights (seed_methods §4.3), summed over layers
    as released. Linear in the student weights (gradient −exp(w_T)/N, independent of w_S); see
    ``weight_mimicking_loss`` for why it is not the default.
    """
    _check_layer_pairs(student_weights, teacher_weights)
    return sum(F.kl_div(student, teacher.detach(), reduction="mean", log_target=True)
               for student, teacher in zip(student_weights, teacher_weights))


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """ReActNet's distributional loss: mean over the batch of −Σ_k softmax(teacher)_k · log_softmax(student)_k.

    The cross-entropy against the teacher's soft labels (BD-code ``DistributionLoss``,
    seed_methods §3.2, §4.3); it differs from KL(teacher ‖ student) only by the teacher's
    entropy, a constant for the student.
    """
    teacher_probabilities = F.softmax(teacher_logits.detach(), dim=1)
    return -(teacher_probabilities * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()
