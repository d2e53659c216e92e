"""Training loop: seeded, resumable, with a progress bar and an atomic checkpoint per epoch.

The same loop runs as one process or as one of N data-parallel processes started by ``torchrun``
(PyTorch DDP): see :func:`distributed` and :func:`train`.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hw_bnn.config import Config, dump_config
from hw_bnn.data import Dataset
from hw_bnn.imagefolder import StreamedDataset
from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path, read_torch, remove_stale_temps
from hw_bnn.methods.bdbnn import distillation_loss
from hw_bnn.methods.losses import LossContext, is_binary_layer, latent_weights

CHECKPOINT = "checkpoint.pt"
FINAL_MODEL = "model.pt"
#: What every checkpoint holds (see the end of an epoch in :func:`train`).
CHECKPOINT_KEYS = ("model", "criterion", "optimizer", "scheduler", "torch_rng", "history", "epoch")


class ScaledCrossEntropy(nn.Module):
    """Cross-entropy on ``logits * exp(log_scale)`` with a learnable scale.

    The models output exact integer dot products (up to +-K for K inputs), far too sharp
    for a softmax. A learnable temperature in the loss keeps the model itself integer
    (hardware-exact) while training well; a positive scale never changes the argmax.
    """

    def __init__(self, init_scale: float, label_smoothing: float = 0.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits * self.log_scale.exp(), labels, label_smoothing=self.label_smoothing)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def as_float(images: np.ndarray) -> torch.Tensor:
    """uint8 images -> float tensor of the same integer values (the models' input)."""
    return torch.from_numpy(images.astype(np.float32))


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 500,
            device: str | torch.device = "cpu") -> np.ndarray:
    """Eval-mode outputs of ``model`` (which lies on ``device``) for uint8 ``images``, as a float32 array."""
    model.eval()
    outputs = [model(as_float(images[i:i + batch_size]).to(device)).cpu()
               for i in range(0, len(images), batch_size)]
    return torch.cat(outputs).numpy()


def training_device() -> torch.device:
    """The device this process trains on: its own GPU (torchrun's LOCAL_RANK; 0 outside torchrun)
    when CUDA is available, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local_rank >= gpus:
        raise HwBnnError(f"torchrun process {local_rank} of this machine has no GPU of its own ({gpus} visible); "
                         f"start at most {gpus} processes per machine (--nproc_per_node={gpus})")
    return torch.device("cuda", local_rank)


@contextmanager
def distributed():
    """Join the data-parallel job when torchrun started this process (its WORLD_SIZE > 1).

    Inside the block :func:`train` runs as one of WORLD_SIZE processes: NCCL between GPUs, gloo
    between CPU processes. Outside torchrun (or with one process) the block runs unchanged.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        yield
        return
    device = training_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's collectives use the current device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of training processes ((0, 1) outside a DDP job)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


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


def epoch_shard(n: int, seed: int, rank: int, world: int, generator: torch.Generator) -> torch.Tensor:
    """This process's images of one epoch: every process draws the same permutation of ``n`` (seeded by
    ``seed``) and takes every world-th image of it, disjoint shards of one size, so all take the same number
    of steps (the < world images left over sit this epoch out)."""
    generator.manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    return order[:len(order) - len(order) % world][rank::world]


def _train_batches(dataset: Dataset | StreamedDataset, order: torch.Tensor, epoch: int, cfg, generator,
                   device: torch.device):
    """(float images, labels) batches of ``order``: sliced from memory (and augmented here), or decoded and
    augmented by the streamed dataset's worker processes."""
    if isinstance(dataset, StreamedDataset):
        dataset.train.set_epoch(epoch)
        for images, labels in dataset.loader(dataset.train, cfg.batch_size, order.tolist(),
                                             pin_memory=device.type == "cuda"):
            yield images.float(), labels
        return
    for start in range(0, len(order), cfg.batch_size):
        index = order[start:start + cfg.batch_size].numpy()
        images = as_float(dataset.train_x[index])
        yield (_augment(images, generator) if cfg.augment else images), torch.from_numpy(dataset.train_y[index])


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset | StreamedDataset, device: torch.device) -> dict:
    """Test accuracy (``test_acc``; with streamed data also the top-5 accuracy, ``test_top5``)."""
    if not isinstance(dataset, StreamedDataset):
        return {"test_acc": float((predict(model, dataset.test_x, device=device).argmax(1) == dataset.test_y).mean())}
    model.eval()
    top1 = top5 = 0
    for images, labels in dataset.loader(dataset.test, 256, pin_memory=device.type == "cuda"):
        ranked = model(images.float().to(device)).topk(min(5, dataset.num_classes), dim=1).indices.cpu()
        top1 += int((ranked[:, 0] == labels).sum())
        top5 += int((ranked == labels[:, None]).any(1).sum())
    return {"test_acc": top1 / dataset.n_test, "test_top5": top5 / dataset.n_test}


def _set_epoch(model: nn.Module, epoch: int, epochs: int) -> None:
    """Tell scheduled estimators (e.g. IR-Net's EDE) which epoch starts."""
    for module in model.modules():
        if hasattr(module, "set_epoch"):
            module.set_epoch(epoch, epochs)


def parameter_groups(model: nn.Module, criterion: nn.Module, cfg) -> list[dict]:
    """The optimizer's parameter groups: weight decay (``cfg.weight_decay``) on the conv and FC weights only
    (``weight_decay_on: weights``, every parameter of two or more dims, as ReActNet's and BD-BNN's optimisers
    select them) or on every model parameter (``all``); never on the loss's learnable temperature, which is
    ours and has no counterpart in the papers."""
    decayed, kept = [], list(criterion.parameters())
    for parameter in model.parameters():
        (decayed if cfg.weight_decay_on == "all" or parameter.dim() >= 2 else kept).append(parameter)
    return [{"params": decayed, "weight_decay": cfg.weight_decay}, {"params": kept, "weight_decay": 0.0}]


def make_scheduler(optimizer: torch.optim.Optimizer, cfg) -> torch.optim.lr_scheduler.LRScheduler:
    """``train.schedule`` over ``train.epochs``, stepped once per epoch: cosine, or linear decay to 0."""
    epochs = max(1, cfg.epochs)
    if cfg.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 - epoch / epochs)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)


def make_optimizer(params, cfg, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)


def _sync_batchnorm_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` whose BatchNorm layers share their batch statistics across the processes.

    A copy, so that the caller's model keeps the plain BatchNorm layers the export maps."""
    if device.type != "cuda":
        raise HwBnnError("train.sync_batchnorm needs one CUDA GPU per process (PyTorch's SyncBatchNorm "
                         "has no CPU implementation); set train.sync_batchnorm=false to keep per-process "
                         "BatchNorm statistics, or train on GPUs")
    return nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))


def _average_gradients(params, world: int) -> None:
    """Average gradients over the processes, as DDP does for the module it wraps."""
    for param in params:
        dist.all_reduce(param.grad)
        param.grad.div_(world)


def _sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return totals.tolist()


def _broadcast_buffers(module: nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics).

    DDP broadcasts them before each forward, so each process's last training step leaves its own;
    after this all processes hold the same model for evaluation and the end-of-run check."""
    for buffer in module.buffers():
        dist.broadcast(buffer, 0)


def _check_replicas_agree(modules: dict[str, nn.Module]) -> None:
    """Raise on every process when any process's weights or buffers differ from rank 0's: the processes
    must end with one model, or the saved (rank 0) model is not the one the others trained. The message
    names the differing tensors of every rank, so rank 0's (the one users read) says what drifted."""
    differing = []
    for prefix, module in modules.items():
        for name, tensor in module.state_dict().items():
            reference = tensor.clone()
            dist.broadcast(reference, 0)
            if not torch.equal(reference, tensor):
                differing.append(f"{prefix}.{name}")
    by_rank = [None] * dist.get_world_size()
    dist.all_gather_object(by_rank, differing)
    drifted = {rank: names for rank, names in enumerate(by_rank) if names}
    if drifted:
        tensors = sorted({name for names in drifted.values() for name in names})
        raise HwBnnError(f"the DDP processes ended with different models: {len(tensors)} tensors differ from "
                         f"rank 0's ({'; '.join(f'rank {r}: {names[:5]}' for r, names in drifted.items())}); "
                         f"a model that changes its state outside forward/backward (e.g. a buffer set in a hook) "
                         f"must change it alike on all ranks")


def _rng_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _rng_states(device: torch.device, world: int) -> list[dict]:
    """Every process's random generator states, by rank (each process draws its own dropout masks)."""
    if world == 1:
        return [_rng_state(device)]
    states = [None] * world
    dist.all_gather_object(states, _rng_state(device))
    return states


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _save(path: Path, state: dict) -> None:
    # durable: a checkpoint is hours of training; it must survive a machine crash too, not only a kill
    with atomic_path(path, durable=True) as tmp:
        torch.save(state, tmp)


def read_saved(path: str | Path) -> dict:
    """What :func:`train` saved at ``path`` (``model.pt``): weights, learned temperature, config, history."""
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"no trained model at {path}; run 'hw-bnn train' with the same --out first")
    return read_torch(path, "delete it and run 'hw-bnn train' with the same --out again", keys=("model",))


def _load_checkpoint(path: Path, net: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler) -> dict:
    """Restore the training state saved at ``path`` (``checkpoint.pt``) for ``--resume``; return the file's dict.

    A damaged file, or one saved for another architecture or optimizer, stops with the file's name and
    what to do.
    """
    if not path.is_file():
        raise HwBnnError(f"--resume: no checkpoint at {path}; train without --resume first")
    state = read_torch(path, "delete it and train again without --resume", keys=CHECKPOINT_KEYS)
    fix = ("resume with the recipe and --set options it was trained with, or start anew without --resume "
           "(or with another --out)")
    try:
        net.load_state_dict(state["model"])
        criterion.load_state_dict(state["criterion"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise HwBnnError(f"--resume: {path} was saved for a different architecture or config ({detail}); "
                         f"{fix}") from None
    # torch checks only the number of parameters; another optimizer's state would load and fail at its first step
    saved_groups, groups = state["optimizer"].get("param_groups", []), optimizer.state_dict()["param_groups"]
    sizes = [len(g["params"]) for g in saved_groups], [len(g["params"]) for g in groups]
    settings = sorted({key for a, b in zip(saved_groups, groups) for key in set(a) ^ set(b)})
    if sizes[0] != sizes[1] or settings:
        raise HwBnnError(f"--resume: the optimizer state in {path} was saved for another optimizer or model "
                         f"(parameters per group: saved {sizes[0]}, now {sizes[1]}; settings only one of them "
                         f"has: {settings}); {fix}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


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


#: The state-dict suffix of a weight behind a parametrization (a method's weight transform) and of a plain one.
_PARAMETRIZED, _PLAIN = ".parametrizations.weight.original", ".weight"


def _method_state(name: str) -> bool:
    """A parameter of a method's weight transform (e.g. WSD's alpha) or of a Brevitas quantizer (its learned
    or statistics-initialised scale): what a step-1 model with real weights, or a short run, may lack."""
    return (".parametrizations.weight." in name and not name.endswith(".original")) or "_quant." in name


def start_from(model: nn.Module, path: str | Path) -> list[str]:
    """Load the weights of an earlier training (``path``: its ``model.pt``) into ``model``, as two-step
    training's step 2 starts from step 1: a layer whose weight step 1 trained plainly (real-valued weights)
    and step 2 keeps behind the method's weight transform gets it as the transform's latent weight. Every
    trainable parameter must be found; the method's own state that step 1 lacked (its weight quantizers')
    keeps its initial value (``_method_state``). Returns the names of what was not in the file."""
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"train.init_from {path} does not exist; give the model.pt of the training to start from "
                         f"(two-step training: step 1's, 'hw-bnn train STEP1_RECIPE --out DIR' writes DIR/model.pt)")
    saved = read_saved(path)["model"]
    target = model.state_dict()
    loaded = {}
    for name in target:
        source = name.replace(_PARAMETRIZED, _PLAIN) if name.endswith(_PARAMETRIZED) else name
        if source not in saved and name.endswith(_PLAIN):  # step 1 behind a transform, step 2 plain
            source = name.removesuffix(_PLAIN) + _PARAMETRIZED
        if source in saved:
            if saved[source].shape != target[name].shape:
                raise HwBnnError(f"train.init_from {path}: {source} has shape {tuple(saved[source].shape)}, the "
                                 f"model's {name} {tuple(target[name].shape)}; init_from needs the same architecture "
                                 f"and options")
            loaded[name] = saved[source]
    trainable = {name for name, p in model.named_parameters() if p.requires_grad and not _method_state(name)}
    missing = sorted(trainable - set(loaded))
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise HwBnnError(f"train.init_from {path} has no weights for {missing[:5]}{more}; it must be a model.pt of "
                         f"the same architecture (e.g. two-step training's step 1)")
    model.load_state_dict(loaded, strict=False)
    return sorted(set(target) - set(loaded))


def train(model: nn.Module, dataset: Dataset, config: Config, out_dir: str | Path,
          resume: bool = False, show_progress: bool = True, teacher: nn.Module | None = None,
          distill_teacher: nn.Module | None = None) -> dict:
    """Train ``model`` on ``dataset``; write ``checkpoint.pt`` each epoch and ``model.pt`` at the end.

    ``teacher`` (frozen, eval mode) feeds the loss terms of methods that need one (BD-BNN);
    ``distill_teacher`` (frozen) the knowledge distillation of ``train.distill_from``.
    Returns the history: per-epoch loss, train accuracy and test accuracy. Trains on the GPU when
    CUDA is available; ``model`` (and ``teacher``) are returned on the CPU.

    Inside :func:`distributed` with N processes, each process trains a DDP replica on its own
    shard of every epoch (``train.batch_size`` images per process and step: a global batch of N
    times that), the history holds the numbers over all shards, and only rank 0 prints and writes
    files. Every process must call this with the same arguments.
    """
    cfg = config.train
    out_dir = Path(out_dir)
    rank, world = rank_and_world()
    device = training_device()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # Dropout masks differ between processes; rank 0 (a single process too) draws what it always did.
    seed_everything(cfg.seed + rank)
    method = config.get_method()
    if method.needs_teacher and teacher is None:
        raise HwBnnError(f"method {method.name} needs a full-precision teacher; train one with "
                         f"'hw-bnn teacher' (the train stage does it when the recipe names none)")
    net = _sync_batchnorm_copy(model, device) if cfg.sync_batchnorm and world > 1 else model
    net.to(device)
    for frozen in (teacher, distill_teacher):
        if frozen is not None:
            frozen.to(device)
    criterion = ScaledCrossEntropy(_initial_temperature(net), cfg.label_smoothing).to(device)
    params = parameter_groups(net, criterion, cfg)
    # Linear scaling rule (Goyal et al., 2017): N times the batch, N times the step.
    optimizer = make_optimizer(params, cfg, lr=cfg.lr * world if cfg.lr_scaling == "linear" else cfg.lr)
    scheduler = make_scheduler(optimizer, cfg)
    on_gpu = device.type == "cuda"
    if cfg.channels_last and on_gpu:
        net.to(memory_format=torch.channels_last)
    history: list[dict] = []
    start_epoch = 0
    checkpoint_path = out_dir / CHECKPOINT
    if rank == 0:  # the partial temporary files of a run killed while writing (see hw_bnn.io.atomic_path)
        for name in (CHECKPOINT, FINAL_MODEL):
            remove_stale_temps(out_dir / name)
    if resume:
        state = _load_checkpoint(checkpoint_path, net, criterion, optimizer, scheduler)
        saved_rng = state.get("rank_rng", [])
        if len(saved_rng) == world:
            _set_rng_state(saved_rng[rank], device)
        else:  # a checkpoint of another number of processes (or of an older version): rank 0's generator
            torch.set_rng_state(state["torch_rng"])
        history, start_epoch = state["history"], state["epoch"] + 1
    # DDP averages the replicas' gradients in backward; it wraps the model only, so the extra loss
    # terms (which walk the model's layers) get ``net`` itself, and the loss's temperature is averaged apart.
    replica = net
    if world > 1:
        replica = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    printing = show_progress and rank == 0

    generator = torch.Generator().manual_seed(cfg.seed)
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        order = epoch_shard(dataset.n_train, cfg.seed + epoch, rank, world, generator)
        replica.train()
        _set_epoch(net, epoch, cfg.epochs)
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(_train_batches(dataset, order, epoch, cfg, generator, device),
                   total=-(-len(order) // cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=None if printing else True, leave=False)
        for images, labels in bar:
            images, labels = images.to(device), labels.to(device)
            if cfg.channels_last and on_gpu:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.mixed_precision and on_gpu):
                logits = replica(images)
                loss = criterion(logits, labels)
                if distill_teacher is not None:
                    with torch.no_grad():
                        soft_labels = distill_teacher(images)
                    loss = ((1 - cfg.distill_alpha) * loss
                            + cfg.distill_alpha * distillation_loss(logits * criterion.log_scale.exp(), soft_labels))
                extra = method.extra_loss(LossContext(net, images, logits * criterion.log_scale.exp(), epoch,
                                                      cfg.epochs, teacher))
            if extra is not None:
                loss = loss + extra
            optimizer.zero_grad()
            loss.backward()
            if world > 1:
                _average_gradients(criterion.parameters(), world)
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        scheduler.step()
        if world > 1:
            total_loss, correct, seen = _sum_over_ranks([total_loss, correct, seen], device)
            _broadcast_buffers(net)
        test = evaluate(net, dataset, device)
        test_acc = test["test_acc"]
        seconds = time.perf_counter() - started  # training and the test pass (both end in a host sync)
        history.append({"epoch": epoch + 1, "loss": total_loss / seen, "train_acc": correct / seen,
                        **test, "seconds": round(seconds, 2)})
        if printing:
            tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: loss {total_loss / seen:.4f}, "
                       f"train acc {correct / seen:.4f}, test acc {test_acc:.4f}, {seconds:.1f} s")
        rank_rng = _rng_states(device, world)
        if rank == 0:
            _save(checkpoint_path, {
                "model": net.state_dict(), "criterion": criterion.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "rank_rng": rank_rng, "history": history, "epoch": epoch,
            })
        if world > 1:
            dist.barrier()  # no process starts the next epoch before this one's checkpoint is on disk
    if world > 1:
        # the DDP wrapper goes before the check: an error's traceback would keep it alive past the end of
        # the process group, and its destructor then waits on the group for good
        del replica
        _check_replicas_agree({"model": net, "criterion": criterion})
    if net is not model:
        model.load_state_dict(net.state_dict())
    model.cpu()
    criterion.cpu()
    for frozen in (teacher, distill_teacher):
        if frozen is not None:
            frozen.cpu()
    if rank == 0:
        _save(out_dir / FINAL_MODEL, {"model": model.state_dict(), "criterion": criterion.state_dict(),
                                      "config": dump_config(config), "history": history})
    if world > 1:
        dist.barrier()  # model.pt is on disk when any process returns (the teacher stage reads it back)
    return {"epochs": history}
