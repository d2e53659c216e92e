"""Recipe (config) files: validated with pydantic, overridable from the command line.

A recipe is one YAML file. Unknown keys, unknown model/method/dataset names and values of
the wrong type are rejected with an HwBnnError that names the field and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hw_bnn.errors import HwBnnError

STAGES = ("teacher", "train", "export", "build", "sim", "synth", "bitstream", "explore", "vendor")


def _known_name(kind: str, name: str, registry) -> str:
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}: choose one of {sorted(registry)}")
    return name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    #: Built-in architecture (see ``hw_bnn.models.MODELS``), or None when ``factory`` is given.
    name: str | None = "mlp"
    #: "package.module:function" returning an nn.Module; called as
    #: ``function(input_shape=..., num_classes=..., method=..., **options)``.
    factory: str | None = None
    #: Keyword arguments for the architecture (e.g. ``hidden: [64, 64, 64]``).
    options: dict[str, Any] = {}
    #: A state dict to start from (a model trained elsewhere, e.g. BNN-PYNQ's ``.tar``/``.pth`` files:
    #: ``{"state_dict": ...}`` or the plain dict). With it, export, build, sim and synth run without train.
    checkpoint: str | None = None
    #: What the model's forward expects for a black and a white pixel: [0, 255] (raw pixels, the flow's
    #: own models) or e.g. [0, 1] (BNN-PYNQ's models). The flow feeds 8-bit images scaled once to this
    #: range in front of the model (``hw_bnn.models.ScaledInput``); the hardware input stays 8-bit.
    input_range: tuple[float, float] = (0.0, 255.0)

    @field_validator("input_range")
    @classmethod
    def _increasing(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError(f"input_range {list(value)} must be [black, white] with black < white, e.g. [0, 1]")
        return value

    @model_validator(mode="after")
    def _one_source(self):
        from hw_bnn.models import MODELS

        if self.factory is not None:
            if ":" not in self.factory:
                raise ValueError(f"factory {self.factory!r} must look like 'package.module:function'")
            self.name = None
        else:
            _known_name("model", self.name, MODELS)
        return self


class DataConfig(_Section):
    name: str = "mnist5k"
    #: Folder with the dataset's files (required for mnist and cifar10).
    path: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    #: Streamed ImageFolder data (``imagenet``): the side of the square images the model gets (ImageNet: 224),
    #: the AlexNet PCA lighting noise of the training images (0: none; ReActNet 0.1), and the decoding
    #: processes per loader (default: the cores, at most 8; 0 decodes in the training process).
    image_size: int = 224
    lighting: float = 0.0
    workers: int | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from hw_bnn.data import DATASETS
        from hw_bnn.imagefolder import STREAMED_DATASETS

        return _known_name("dataset", name, {**DATASETS, **dict.fromkeys(STREAMED_DATASETS)})


class TrainConfig(_Section):
    epochs: int = 10
    #: Images per step and process: under ``torchrun --nproc_per_node=N`` the global batch is N times this.
    batch_size: int = 100
    lr: float = 0.01
    #: none: ``lr`` as given whatever the number of processes; linear: ``lr`` times the number of
    #: torchrun processes (Goyal et al.'s linear scaling rule, for the N times larger global batch).
    lr_scaling: str = "none"
    #: Under torchrun on GPUs: BatchNorm statistics over the global batch (nn.SyncBatchNorm) instead
    #: of each process's own batch. No effect with one process.
    sync_batchnorm: bool = False
    weight_decay: float = 0.0
    #: What ``weight_decay`` reaches: ``weights``, the conv and FC weights only (parameters of two or more
    #: dims: not BatchNorm, biases, the methods' learnable shifts and scales), as ReActNet's and BD-BNN's
    #: optimisers; ``all``, every model parameter, as a plain ``SGD(model.parameters())``. Never the loss's
    #: learnable temperature.
    weight_decay_on: Literal["weights", "all"] = "weights"
    #: adam (BNN-PYNQ, ReActNet) or sgd (the papers' CIFAR recipes: SGD with momentum, cosine).
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.9
    #: The learning rate over the epochs: cosine (the CIFAR recipes) or linear decay to 0 (ReActNet's and
    #: the ImageNet recipes'), stepped once per epoch.
    schedule: Literal["cosine", "linear"] = "cosine"
    #: Label smoothing of the cross-entropy (0: none; ReActNet-style ImageNet recipes 0.1).
    label_smoothing: float = 0.0
    #: Two-step training (ReActNet, SD-BNN's and AdaBin's ImageNet recipes): step 1 trains with binary
    #: activations and real-valued weights (``float_weights: true``); step 2 binarises the weights too and
    #: starts from step 1's ``model.pt`` (``init_from``).
    float_weights: bool = False
    init_from: str | None = None
    #: Knowledge distillation from a full-precision teacher of another architecture (ReActNet's and SD-BNN's
    #: ImageNet recipes: a ResNet-34): the teacher's weights file (a torchvision state dict, which the user
    #: gives), its architecture, and alpha, the loss = (1 - alpha) * cross-entropy + alpha * the distributional
    #: loss to the teacher's soft labels (ReActNet: alpha 1, distillation alone).
    distill_from: str | None = None
    distill_teacher: Literal["resnet18", "resnet34"] = "resnet34"
    distill_alpha: float = 1.0
    #: On GPUs: autocast to bfloat16 (``mixed_precision``) and channels-last memory (``channels_last``); both
    #: are ignored on the CPU. The binarised values are exact in bfloat16; the accumulators are float32.
    mixed_precision: bool = False
    channels_last: bool = False
    #: Random crop (4-pixel padding) and horizontal flip, as the papers' CIFAR-10 recipes.
    augment: bool = False
    seed: int = 0
    #: Torch threads; None keeps PyTorch's default.
    threads: int | None = None

    @field_validator("distill_alpha")
    @classmethod
    def _alpha_range(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"distill_alpha {value} must be in [0, 1] (1: distillation alone, as ReActNet)")
        return value

    @field_validator("label_smoothing")
    @classmethod
    def _smoothing_range(cls, value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"label_smoothing {value} must be in [0, 1) (0: none; 0.1 is usual)")
        return value

    @field_validator("lr_scaling")
    @classmethod
    def _known_lr_scaling(cls, rule: str) -> str:
        if rule not in ("none", "linear"):
            raise ValueError(f"unknown rule {rule!r}: choose none (train.lr as given) or linear "
                             f"(train.lr times the number of torchrun processes)")
        return rule


class BuildConfig(_Section):
    #: FPGA part for FINN's resource estimates (PYNQ-Z1/Z2 by default).
    part: str = "xc7z020clg400-1"
    clock_mhz: float = 100.0
    #: Folding target: frames per second at ``clock_mhz`` ...
    target_fps: float | None = None
    #: ... or cycles per frame of the slowest layer. Neither: fully folded (PE=SIMD=1).
    target_cycles_per_frame: int | None = None
    #: FINN-style folding JSON ({node name: {"PE": p, "SIMD": s}}); overrides the target.
    folding_file: str | None = None
    #: End the accelerator in a top-1 stage: it outputs the class index instead of the scores.
    argmax: bool = False
    #: FIFO depths: ``simulate`` (each FIFO sized by Verilator on the first test images:
    #: ``hw_bnn.design.fifo_sizing``) or ``fixed`` (``sim.fifo_depth`` on every link, residual shortcuts as
    #: planned).
    fifo_sizing: Literal["fixed", "simulate"] = "simulate"

    @model_validator(mode="after")
    def _one_target(self):
        if self.target_fps is not None and self.target_cycles_per_frame is not None:
            raise ValueError("set only one of build.target_fps and build.target_cycles_per_frame")
        return self

    def target_cycles(self) -> int | None:
        """The folding target in cycles per frame, or None for fully folded."""
        if self.target_fps is not None:
            return max(1, int(self.clock_mhz * 1e6 / self.target_fps))
        return self.target_cycles_per_frame


class CheckConfig(_Section):
    #: How many test images the equality checks use; None: the whole test split.
    n_images: int | None = None


class BackpressureConfig(_Section):
    """Random, seeded stalls at the simulated design's two stream ends (1 and 1: full rate).

    The outputs must stay bit-exact and no beat may be lost or duplicated; the cycles measured
    are then the stalls' rate, not the design's, and are not compared with the estimate.
    """

    #: Probability that the source offers the next input beat in a cycle.
    input_valid_probability: float = 1.0
    #: Probability that the sink takes an output beat in a cycle.
    output_ready_probability: float = 1.0
    #: Seed of the stall pattern.
    stall_seed: int = 0

    @field_validator("input_valid_probability", "output_ready_probability")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"{value} is not a probability in (0, 1]: a beat must get through sometimes; "
                             f"1 means no stalls")
        return value


class SimConfig(_Section):
    #: Images the RTL simulation streams; None: the same images as the checks.
    n_images: int | None = None
    #: Depth of the FIFO between two nodes, in beats (>= 3 keeps every node at full rate).
    fifo_depth: int = 32
    #: Dump an FST waveform (sim/waveform.fst) of the first N images; 0: none.
    waveform_images: int = 0
    #: Also simulate each layer alone to measure its cycles per frame (one build per layer).
    per_layer: bool = False
    #: Stalls at the stream ends (e.g. ``--set sim.backpressure.output_ready_probability=0.6``).
    backpressure: BackpressureConfig = BackpressureConfig()
    #: Verilator processes the images are split over (one per core is fastest): each part fills its own
    #: pipeline; the cycles per frame are the parts' steady states, the latency the first part's.
    shards: int = Field(1, ge=1)

    @field_validator("fifo_depth")
    @classmethod
    def _deep_enough(cls, depth: int) -> int:
        if depth < 2:
            raise ValueError("sim.fifo_depth must be at least 2 beats")
        return depth


class SynthConfig(_Section):
    #: FPGA family for Yosys: xc7 (7-series), ecp5 (Lattice ECP5) or ice40 (Lattice iCE40).
    family: str = "xc7"
    #: Also place and route with nextpnr (ecp5, ice40) for the achieved Fmax at build.clock_mhz.
    place_and_route: bool = True

    @field_validator("family")
    @classmethod
    def _known_family(cls, name: str) -> str:
        from hw_bnn.synth import FAMILIES

        return _known_name("synthesis family", name, FAMILIES)


class ExploreConfig(_Section):
    #: The device the design must fit (its LUTs, flip-flops and block RAMs): LFE5U-12F/25F/45F/85F (ECP5),
    #: iCE40UP5K (or up5k), xc7z010, xc7z020, xc7a35t, xc7a100t (any case). It also sets the family the
    #: estimate and synthesis are for (the estimate is calibrated for xc7, ECP5 and iCE40); null:
    #: synth.family, no device limit.
    device: str | None = None
    #: Budgets on top of (or without) the device: LUTs, and block RAMs in the family's unit (BRAM18 on
    #: xc7, DP16KD on ECP5, SB_RAM40_4K on iCE40).
    max_lut: int | None = None
    max_bram: int | None = None
    #: Frames/s at build.clock_mhz the chosen design must reach (the cheapest that does is chosen); null:
    #: the fastest design that fits.
    target_fps: float | None = None
    #: Most cycles from a frame's first input to its result (the sum of the layers' cycles, as FINN's
    #: latency estimate).
    max_latency_cycles: int | None = None
    #: Foldings estimated at most.
    max_points: int = 2000
    #: Points of the estimated Pareto front synthesised with Yosys (evenly spaced along it), and points off
    #: the front, to check the estimate where it is not optimising; 0 and 0: estimate only.
    synthesize_front: int = 6
    synthesize_off_front: int = 2
    #: Where the syntheses run: null, a local Dask cluster over this machine's cores; "tcp://HOST:8786", an
    #: existing Dask scheduler (Slurm/PBS through dask-jobqueue: docs/synthesis.md).
    cluster: str | None = None
    #: Workers of the local cluster (null: one per core, at most one per job).
    workers: int | None = None

    @field_validator("max_points", "synthesize_front", "synthesize_off_front")
    @classmethod
    def _counts(cls, value: int, info) -> int:
        if value < (1 if info.field_name == "max_points" else 0):
            raise ValueError(f"explore.{info.field_name} must be {'>= 1' if info.field_name == 'max_points' else '>= 0'}")
        return value


class BitstreamConfig(_Section):
    #: Board to build for: ulx3s-85f, ulx3s-45f, ulx3s-12f (ECP5, 25 MHz) or icebreaker (iCE40 UP5K, 12 MHz).
    board: str = "ulx3s-85f"
    #: UART baud rate of the host link (8N1), up to the board's USB-UART limit (3,000,000); a bit must be at
    #: least 4 whole cycles to within 2% of the UART's clock: the board oscillator where it makes the rate,
    #: else (ECP5) a second PLL output chosen with the accelerator clock (e.g. 3 Mbaud on the ULX3S: 48 MHz).
    baud: int = 115200
    #: Accelerator clock in MHz, made by the board's PLL from its oscillator (ECP5 3.125..400, iCE40 16..275;
    #: the nearest setting the PLL makes is used and reported); null: the accelerator runs on the oscillator.
    accel_clock_mhz: float | None = None

    @field_validator("board")
    @classmethod
    def _known_board(cls, name: str) -> str:
        from hw_bnn.board.boards import BOARDS

        return _known_name("board", name, BOARDS)

    @model_validator(mode="after")
    def _reachable_clocks(self):
        from hw_bnn.board.boards import BOARDS, plan_clocks

        if self.baud <= 0:
            raise ValueError(f"bitstream.baud must be positive, not {self.baud}")
        try:
            plan_clocks(BOARDS[self.board], self.baud, self.accel_clock_mhz)
        except HwBnnError as exc:
            raise ValueError(str(exc)) from None
        return self


class VendorConfig(_Section):
    #: Zynq board for FINN's own Vivado/Vitis HLS build: pynq-z1, pynq-z2 or zcu104.
    board: str = "pynq-z2"
    #: Several boards at once, in place of ``board``: each board's FINN build is one job of a Dask sweep
    #: (vendor/builds.csv; a rerun builds only the boards not in it yet).
    boards: list[str] = []
    #: Where the builds run: null, a local Dask cluster of ``workers`` processes (used only with several
    #: boards); "tcp://HOST:8786", a running Dask scheduler whose workers have Vivado and Vitis HLS set up.
    cluster: str | None = None
    #: Workers of the local cluster: one by default, since a FINN/Vivado build takes the machine's cores and
    #: many GB of memory itself.
    workers: int = Field(1, ge=1)
    #: The command that runs FINN's builder, as a list (e.g. a FINN Docker wrapper); ``build CONFIG MODEL
    #: --batch`` is appended. null: finn-plus's ``finn`` next to the Python that runs hw_bnn (on the workers).
    finn_command: list[str] | None = None

    @field_validator("board")
    @classmethod
    def _known_board(cls, name: str) -> str:
        from hw_bnn.vendor import VENDOR_BOARDS

        return _known_name("vendor board", name, VENDOR_BOARDS)

    @field_validator("boards")
    @classmethod
    def _known_boards(cls, names: list[str]) -> list[str]:
        from hw_bnn.vendor import VENDOR_BOARDS

        if len(set(names)) != len(names):
            raise ValueError(f"vendor.boards names a board twice: {names}")
        return [_known_name("vendor board", name, VENDOR_BOARDS) for name in names]

    @field_validator("finn_command")
    @classmethod
    def _command(cls, command: list[str] | None) -> list[str] | None:
        if command is not None and not command:
            raise ValueError("vendor.finn_command is empty; give the command as a list, e.g. [/opt/finn/run-docker.sh, "
                             "finn], or null for finn-plus's finn")
        return command


class Config(_Section):
    name: str = "experiment"
    method: str = "baseline"
    #: Options of the method's factory (see hw_bnn.methods.catalog), e.g. {estimator: ede}.
    method_options: dict[str, Any] = {}
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    build: BuildConfig = BuildConfig()
    check: CheckConfig = CheckConfig()
    sim: SimConfig = SimConfig()
    synth: SynthConfig = SynthConfig()
    explore: ExploreConfig = ExploreConfig()
    bitstream: BitstreamConfig = BitstreamConfig()
    vendor: VendorConfig = VendorConfig()
    #: Stages ``hw-bnn run`` executes, in this order.
    stages: list[Literal[STAGES]] = ["train", "export", "build", "sim"]

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        from hw_bnn.methods import METHODS

        return _known_name("method", name, METHODS)

    @model_validator(mode="after")
    def _valid_method_options(self):
        from hw_bnn.methods import get_method

        try:
            get_method(self.method, self.method_options)
        except HwBnnError as exc:
            raise ValueError(str(exc)) from None
        return self

    def get_method(self):
        """The configured method, built with its options (with real-valued weights in two-step training's
        step 1, ``train.float_weights``)."""
        from hw_bnn.methods import get_method

        method = get_method(self.method, self.method_options)
        return method.with_float_weights() if self.train.float_weights else method


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise HwBnnError(f"--set {dotted}: '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """Parse ``a.b=value`` strings; values are read as YAML (numbers, lists, null...)."""
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise HwBnnError(f"--set {item!r}: expected dotted.key=value, e.g. --set train.epochs=1")
        parsed.append((key.strip(), yaml.safe_load(raw)))
    return parsed


def _validate(tree: dict, source: str) -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise HwBnnError(f"invalid config {source}: {problems}") from None


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Read a recipe YAML (or the defaults when ``path`` is None) and apply ``--set`` overrides."""
    tree: dict = {}
    source = "(defaults)"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise HwBnnError(f"config file {path} does not exist; recipes live in training/recipes/")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise HwBnnError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(tree, dict):
            raise HwBnnError(f"config file {path} must hold a mapping of sections, not {type(tree).__name__}")
    for key, value in parse_overrides(list(overrides)):
        _set_dotted(tree, key, value)
    return _validate(tree, source)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(), sort_keys=False)
