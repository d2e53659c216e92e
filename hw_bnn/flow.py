"""The stages a user runs: train, export, build (compile + estimate + check), and ``run`` for all.

Each stage reads what earlier stages left in the output folder, writes its own files
atomically, and merges its results into ``report.json``; any stage can be re-run alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from torch import nn

from hw_bnn import __version__
from hw_bnn.config import Config, dump_config
from hw_bnn.data import Dataset, load_dataset
from hw_bnn.errors import HwBnnError
from hw_bnn.imagefolder import STREAMED_DATASETS, StreamedDataset, load_image_folder
from hw_bnn.io import atomic_path, read_json, read_npy, write_json, write_text
from hw_bnn.models import build_model

REPORT = "report.json"
#: The layout and meaning of an output folder's files; a folder written in another format is refused by every
#: stage (``read_report``). 2: DyBNN's saved weights moved into ``rprelu`` (residual RPReLU); folders carry
#: the ``hw_bnn`` stamp.
OUTPUT_FORMAT = 2
#: The stage that writes each file later stages (and users) read back from the output folder.
WRITTEN_BY = {
    "export.onnx": "export", "test_inputs.npy": "export", "test_labels.npy": "export",
    "pytorch_outputs.npy": "export", "hw_graph.onnx": "build", "finn_outputs.npy": "build",
    "sim/outputs.npy": "sim", "sim/cycles.npy": "sim",
}
#: report.json sections that stages fill in part (one key per stage); the rest are replaced whole.
MERGED_SECTIONS = ("accuracy", "bit_exact", "host_tail")
Progress = Callable[[str], None]


def load_data(config: Config) -> Dataset | StreamedDataset:
    """The recipe's data: in memory, or streamed from an ImageFolder tree (``imagenet``)."""
    data = config.data
    if data.name in STREAMED_DATASETS:
        return load_image_folder(data.name, data.path and Path(data.path).expanduser(), data.image_size,
                                 data.lighting, data.workers, config.train.seed, config.train.augment,
                                 data.n_train, data.n_test)
    return load_dataset(data.name, data.path, data.n_train, data.n_test)


def new_model(config: Config, dataset: Dataset) -> nn.Module:
    return build_model(config.model, dataset.input_shape, dataset.num_classes, config.get_method())


def read_report(out_dir: str | Path) -> dict:
    """The run's report.json ({} before any stage wrote one); a damaged one, or one of a folder written in
    another output format (``OUTPUT_FORMAT``), stops with what to do."""
    path = Path(out_dir) / REPORT
    if not path.is_file():
        return {}
    fix = ("delete it and re-run the stages whose results it should hold ('hw-bnn run CONFIG --out DIR', "
           "or each stage alone: every stage writes its own sections)")
    report = read_json(path, fix)
    if not isinstance(report, dict):
        raise HwBnnError(f"{path} holds a JSON {type(report).__name__}, not a report; {fix}")
    stamp = report.get("hw_bnn") or {}
    written_in = stamp.get("output_format", 1)  # folders from before the stamp
    if written_in != OUTPUT_FORMAT:
        by = f"hw_bnn {stamp['version']}" if "version" in stamp else "an hw_bnn from before version stamps"
        raise HwBnnError(f"{Path(out_dir)} was written by {by} (output format {written_in}); this is hw_bnn "
                         f"{__version__} (output format {OUTPUT_FORMAT}), which reads its files differently (e.g. "
                         f"DyBNN's saved weights). Use a new --out, or delete the folder and run again")
    return report


def rerun_hint(name: str) -> str:
    """What to run to remake the output-folder file ``name`` (a key of :data:`WRITTEN_BY`)."""
    return f"re-run 'hw-bnn {WRITTEN_BY[name]}' with the same --out"


def read_output(out_dir: str | Path, name: str):
    """The array a stage saved as ``out_dir/name`` (``name`` a ``.npy`` key of :data:`WRITTEN_BY`,
    e.g. ``"finn_outputs.npy"``); a missing or damaged file stops with the stage to re-run."""
    return read_npy(Path(out_dir) / name, rerun_hint(name))


def _test_data(out_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test images, labels and PyTorch outputs the export stage saved in ``out_dir``."""
    names = ("test_inputs.npy", "test_labels.npy", "pytorch_outputs.npy")
    arrays = [read_output(out_dir, name) for name in names]
    if len({len(array) for array in arrays}) != 1:
        counts = ", ".join(f"{name}: {len(array)}" for name, array in zip(names, arrays))
        raise HwBnnError(f"the test data in {out_dir} disagree on the number of images ({counts}); "
                         f"{rerun_hint('test_inputs.npy')}")
    return tuple(arrays)


def version_stamp(config: Config) -> dict:
    """What wrote a folder: the hw_bnn version, its output format, and the recipe's hash (SHA-256 of the
    effective config as ``config.yaml`` holds it)."""
    return {"version": __version__, "output_format": OUTPUT_FORMAT,
            "recipe_sha256": hashlib.sha256(dump_config(config).encode()).hexdigest()}


def update_report(out_dir: Path, config: Config, **sections) -> dict:
    """Merge ``sections`` into report.json (nested dicts of MERGED_SECTIONS are merged, not replaced;
    a None entry in them removes what an earlier run of that stage left)."""
    report = read_report(out_dir)
    report.update(model=config.model.factory or config.model.name, method=config.method, dataset=config.data.name,
                  hw_bnn=version_stamp(config))
    for key, value in sections.items():
        if key in MERGED_SECTIONS:
            merged = {**(report.get(key) or {}), **value}
            report[key] = {name: entry for name, entry in merged.items() if entry is not None}
        else:
            report[key] = value
    write_json(out_dir / REPORT, report)
    return report


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array)


def _test_split(config: Config, dataset: Dataset | StreamedDataset) -> tuple[np.ndarray, np.ndarray]:
    if config.check.n_images is None and isinstance(dataset, StreamedDataset):
        raise HwBnnError(f"check.n_images is needed with the streamed dataset '{dataset.name}': the hardware checks "
                         f"decode that many test images into memory (e.g. --set check.n_images=100)")
    n = config.check.n_images or dataset.n_test
    if n > dataset.n_test:
        raise HwBnnError(f"check.n_images={n} but the test split has only {dataset.n_test} images")
    return dataset.test_images(n)


def _as_hardware_output(reference: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """PyTorch's scores in the form the graph outputs them: the scores, or the top-1 index
    when the accelerator ends in an argmax stage (first index among equal maxima, as FINN)."""
    if outputs.shape[-1] == 1 and reference.shape[-1] > 1:
        return reference.argmax(-1)[..., None].astype(np.float32)
    return reference


def _compare(name: str, outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> tuple[float, bool, int | None]:
    """Accuracy of ``outputs``, whether they equal ``reference`` exactly, and the first differing image."""
    reference = _as_hardware_output(reference, outputs)
    if outputs.shape != reference.shape:
        raise HwBnnError(f"{name} outputs have shape {outputs.shape}, PyTorch's {reference.shape}")
    differs = np.flatnonzero((outputs != reference).any(axis=1))
    predicted = outputs[:, 0] if outputs.shape[1] == 1 else outputs.argmax(1)
    accuracy = float((predicted == labels).mean())
    return accuracy, differs.size == 0, int(differs[0]) if differs.size else None


#: The ops of a host float tail whose step per integer ``host_tail_slopes`` measures (an affine map).
AFFINE_TAIL_OPS = {"Mul", "Add", "Sub", "Div"}


def host_tail_slopes(graph: ModelWrapper) -> np.ndarray | None:
    """Per output, how much the float tail after the last integer layer moves per unit of that layer's
    integer output, when the tail is an affine map (e.g. BNN-PYNQ's TensorNorm); None without such a tail.

    The integer layer is the accelerator in a HW graph, and the last MatMul/Gemm/Conv in an exported one."""
    from hw_bnn.execute import run_graph
    from hw_bnn.graph import hw_nodes, split_at_partition, sub_model

    nodes = list(graph.graph.node)
    if hw_nodes(graph):
        _, last_integer, tail = split_at_partition(graph)
        tail_input = last_integer.graph.output[0].name
    else:
        layers = [i for i, node in enumerate(nodes) if node.op_type in ("MatMul", "Gemm", "Conv")]
        if not layers or layers[-1] == len(nodes) - 1:
            return None
        tail_input = nodes[layers[-1]].output[0]
        tail = sub_model(graph, nodes[layers[-1] + 1:], tail_input, graph.graph.output[0].name)
    if tail is None or any(node.op_type not in AFFINE_TAIL_OPS for node in tail.graph.node):
        return None
    shape = graph.get_tensor_shape(tail_input)
    zeros, ones = (run_graph(tail, np.full((1, *shape[1:]), value, np.float32), show_progress=False)
                   for value in (0, 1))
    return (ones - zeros).reshape(-1)


def rounded_tail(outputs: np.ndarray, reference: np.ndarray, slopes: np.ndarray | None) -> dict | None:
    """When ``outputs`` differ from PyTorch's only by the float rounding of the host tail, what was exact
    and how far the floats differ; else None.

    The accelerator's integers agree when every output is nearer PyTorch's than half the tail's step
    per integer (one integer more or less moves an output by a whole step), and the top-1 class agrees."""
    if slopes is None or outputs.shape != reference.shape or outputs.shape[-1] != slopes.size:
        return None
    difference = np.abs(outputs.astype(np.float64) - reference.astype(np.float64))
    if not (difference < np.abs(slopes) / 2).all() or not (outputs.argmax(1) == reference.argmax(1)).all():
        return None
    return {"integer_outputs_exact": True, "top1_exact": True, "max_abs_diff": float(difference.max())}


def train_stage(config: Config, out_dir: str | Path, model: nn.Module | None = None, resume: bool = False,
                progress: Progress = print) -> nn.Module:
    """Train the configured model (or ``model``), leaving ``model.pt`` in ``out_dir``."""
    from hw_bnn.train import rank_and_world, seed_everything, train

    out_dir = Path(out_dir)
    main_process = rank_and_world()[0] == 0  # under torchrun, only rank 0 reports and writes
    dataset = load_data(config)
    teacher = teacher_stage(config, out_dir, progress=progress) if config.get_method().needs_teacher else None
    seed_everything(config.train.seed)  # the initial weights are part of a reproducible run
    model = model if model is not None else new_model(config, dataset)
    if "export" in config.stages:
        # not a training whose model the export would refuse, e.g. for a module of the method that this
        # architecture uses (a float hyper-function)
        from hw_bnn.export import refuse_blocked_modules

        refuse_blocked_modules(model)
    if config.train.init_from and not resume:
        from hw_bnn.train import start_from

        kept = start_from(model, Path(config.train.init_from).expanduser())
        if main_process:
            progress(f"train: starting from {config.train.init_from}" + (f" ({len(kept)} entries of the method's "
                                                                         f"own state at their initial value)"
                                                                         if kept else ""))
    if main_process:
        progress(f"train: {config.model.factory or config.model.name} ({config.method}) on {config.data.name}, "
                 f"{dataset.n_train} train / {dataset.n_test} test images, {config.train.epochs} epochs")
    distill_teacher = None
    if config.train.distill_from:
        from hw_bnn.models.teacher import load_teacher

        distill_teacher = load_teacher(config.train.distill_teacher, Path(config.train.distill_from).expanduser(),
                                       dataset.num_classes)
    history = train(model, dataset, config, out_dir, resume=resume, teacher=teacher, show_progress=main_process,
                    distill_teacher=distill_teacher)
    if main_process:
        write_text(out_dir / "config.yaml", dump_config(config))
        update_report(out_dir, config, train=history)
    return model


def teacher_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> nn.Module:
    """The full-precision teacher of the recipe's architecture (for BD-BNN), frozen, in eval mode.

    Loaded from ``method_options.teacher`` when given, else from ``OUT/teacher/model.pt`` when an
    earlier run trained it, else trained now into ``OUT/teacher`` (same data and schedule, method
    ``full_precision``, ``method_options.teacher_epochs`` epochs). Its outputs are scaled by the
    temperature it learned, so they are logits comparable with the student's.
    """
    from hw_bnn.train import FINAL_MODEL, load_model_state, rank_and_world, read_saved, train

    out_dir = Path(out_dir)
    options = config.get_method().options
    teacher_config = config.model_copy(update={
        "method": "full_precision", "method_options": {},
        "train": config.train.model_copy(update={"epochs": options.get("teacher_epochs") or config.train.epochs}),
    })
    dataset = load_data(config)
    path = Path(options["teacher"]) if options.get("teacher") else out_dir / "teacher" / FINAL_MODEL
    model = new_model(teacher_config, dataset)
    if not path.is_file():
        if options.get("teacher"):
            raise HwBnnError(f"method_options.teacher: no trained teacher at {path}; train one with "
                             f"'hw-bnn teacher RECIPE --out DIR' and give DIR/teacher/{FINAL_MODEL}")
        main_process = rank_and_world()[0] == 0  # under torchrun all ranks train it, rank 0 reports
        if main_process:
            progress(f"teacher: training the full-precision {config.model.factory or config.model.name} "
                     f"({teacher_config.train.epochs} epochs) -> {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        history = train(model, dataset, teacher_config, path.parent, show_progress=main_process)
        if main_process:
            update_report(out_dir, config, teacher={"path": str(path),
                                                    "test_acc": history["epochs"][-1]["test_acc"]})
    state = read_saved(path)
    load_model_state(model, path, state)
    if "criterion" not in state:
        raise HwBnnError(f"{path} has no learned output temperature; retrain the teacher with this version")
    return _ScaledTeacher(model, float(state["criterion"]["log_scale"].exp()))


class _ScaledTeacher(nn.Module):
    """A frozen model whose outputs are multiplied by its learned softmax temperature."""

    def __init__(self, model: nn.Module, scale: float):
        super().__init__()
        self.model, self.scale = model.eval().requires_grad_(False), scale

    def forward(self, x):
        return self.model(x) * self.scale


def trained_model(config: Config, out_dir: Path, dataset: Dataset) -> nn.Module:
    """The model ``train`` left in ``out_dir``; without one, the recipe's ``model.checkpoint`` as it is."""
    from hw_bnn.train import FINAL_MODEL, load_model_state

    if config.model.checkpoint and not (out_dir / FINAL_MODEL).is_file():
        return new_model(config, dataset).eval()
    return load_model_state(new_model(config, dataset), out_dir / FINAL_MODEL).eval()


def _require(out_dir: Path, names: tuple[str, ...], stage: str) -> None:
    """Stop with the command to run when an earlier stage's output is missing from ``out_dir``."""
    for name in names:
        if not (out_dir / name).is_file():
            raise HwBnnError(f"{out_dir / name} is missing; run 'hw-bnn {stage}' with the same --out first")


def built_design(config: Config, out_dir: Path):
    """The RTL that ``build`` generated into ``out_dir/rtl``: sim, synth and bitstream use it as it is."""
    from hw_bnn.design.stitch import DESIGN_FILE, load_design

    _require(out_dir, ("hw_graph.onnx", f"rtl/{DESIGN_FILE}"), "build")
    design = load_design(out_dir / "rtl")
    if design.fifo_depth != config.sim.fifo_depth:
        raise HwBnnError(f"the RTL in {out_dir / 'rtl'} was built with sim.fifo_depth={design.fifo_depth}, the recipe "
                         f"now says {config.sim.fifo_depth}; run 'hw-bnn build' again with this recipe")
    built_with = "simulate" if read_report(out_dir).get("fifo_sizing") else "fixed"
    if built_with != config.build.fifo_sizing:
        raise HwBnnError(f"the RTL in {out_dir / 'rtl'} was built with build.fifo_sizing={built_with}, the recipe now "
                         f"says {config.build.fifo_sizing}; run 'hw-bnn build' again with this recipe")
    return design


def _check_mappable(config: Config) -> None:
    """Stop before any hardware step when the recipe's method has no hardware mapping yet."""
    blocker = config.get_method().hardware_blocker
    if blocker:
        raise HwBnnError(f"method {config.method} cannot be mapped to hardware yet: {blocker}. Train-only "
                         f"recipes (stages: [train]) work as they are")


def export_stage(config: Config, out_dir: str | Path, model: nn.Module | None = None,
                 progress: Progress = print, dataset: Dataset | None = None) -> ModelWrapper:
    """Export to ``export.onnx``, save the test inputs/labels and PyTorch outputs, check QONNX == PyTorch
    (on the test split of ``dataset``, by default the recipe's)."""
    from hw_bnn.execute import run_graph
    from hw_bnn.export import deployable, export_model
    from hw_bnn.train import predict

    out_dir = Path(out_dir)
    _check_mappable(config)
    dataset = dataset if dataset is not None else load_data(config)
    model = (model if model is not None else trained_model(config, out_dir, dataset)).eval()
    images, labels = _test_split(config, dataset)
    progress(f"export: QONNX -> {out_dir / 'export.onnx'}")
    # The reference is the deployment form (for AdaBin: the integer combine-and-threshold), which
    # the trained float model matches up to its own rounding at ties; both accuracies are reported.
    # It is built once: exporting an already deployable copy changes nothing.
    deployed = deployable(model, dataset.input_shape)
    qonnx_model = export_model(deployed, dataset.input_shape, out_dir / "export.onnx")
    reference = predict(deployed, images)
    float_predictions = predict(model, images).argmax(1)
    _save_npy(out_dir / "test_inputs.npy", images)
    _save_npy(out_dir / "test_labels.npy", labels)
    _save_npy(out_dir / "pytorch_outputs.npy", reference)
    outputs = run_graph(qonnx_model, images, desc="QONNX execution")
    acc_torch = float((reference.argmax(1) == labels).mean())
    acc_qonnx, exact, first = _compare("QONNX", outputs, reference, labels)
    tail = None if exact else rounded_tail(outputs, reference, host_tail_slopes(qonnx_model))
    update_report(out_dir, config, n_test=int(len(images)), host_tail={"qonnx": tail},
                  accuracy={"pytorch": acc_torch, "pytorch_float": float((float_predictions == labels).mean()),
                            "qonnx": acc_qonnx, "finn": None, "rtl": None},
                  deployed_top1_agreement=float((float_predictions == reference.argmax(1)).mean()),
                  bit_exact={"qonnx": exact, "finn": None, "rtl": None})
    if not exact and tail is None:
        raise HwBnnError(f"QONNX export differs from PyTorch on test image {first}: the exported graph does not "
                         f"compute what the model computes (see {out_dir / 'export.onnx'})")
    return qonnx_model


def _first_diverging_step(out_dir: Path, image: np.ndarray, reference: np.ndarray) -> str:
    """Name the first saved build step whose graph no longer reproduces PyTorch on ``image``."""
    from hw_bnn.compiler import BUILD_STEPS
    from hw_bnn.execute import run_graph

    for name, step in BUILD_STEPS:
        path = out_dir / "build" / f"{name}.onnx"
        if path.is_file():
            output = run_graph(ModelWrapper(str(path)), image[None], show_progress=False)
            if not np.array_equal(output, _as_hardware_output(reference[None], output)):
                return f"{step.__name__} (graph {path})"
    return "none of the saved steps (only the final graph differs)"


def stitch_design(config: Config, out_dir: Path, hw_graph: ModelWrapper, images: np.ndarray,
                  progress: Progress = print):
    """The build's RTL in ``out_dir/rtl``: FIFOs sized in Verilator on the first of ``images`` (the model's
    input) under ``build.fifo_sizing: simulate`` (kept under ``sim.backpressure``'s stalls where the recipe has
    them), else ``sim.fifo_depth``; the sizing goes into report.json. Returns the design."""
    from hw_bnn.design.fifo_sizing import size_design_fifos
    from hw_bnn.design.sim import Backpressure
    from hw_bnn.design.stitch import DESIGN_FILE, generate_design

    (out_dir / "rtl" / DESIGN_FILE).unlink(missing_ok=True)  # a build that fails here leaves no stale design
    sizing = None
    if config.build.fifo_sizing == "simulate":
        sizing = size_design_fifos(hw_graph, images, out_dir / "build" / "fifo_sizing", config.sim.fifo_depth,
                                   progress, Backpressure.from_recipe(config.sim.backpressure))
    progress(f"build: stitched RTL -> {out_dir / 'rtl'}")
    design = generate_design(hw_graph, out_dir / "rtl", fifo_depth=config.sim.fifo_depth,
                             fifo_depths=sizing.depths if sizing else None)
    update_report(out_dir, config, fifo_sizing=sizing.report(design) if sizing else None)
    return design


def build_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> ModelWrapper:
    """Compile ``export.onnx`` to the folded HW graph, estimate it, and check FINN execution == PyTorch."""
    from hw_bnn.compiler import compile_model, read_folding
    from hw_bnn.estimate import estimate, plot_estimate
    from hw_bnn.execute import run_graph
    from hw_bnn.resource_model import estimate_built_design
    from hw_bnn.export import load_qonnx

    out_dir = Path(out_dir)
    _check_mappable(config)
    _require(out_dir, ("export.onnx",), "export")
    qonnx_model = load_qonnx(out_dir / "export.onnx", rerun_hint("export.onnx"))
    images, labels, reference = _test_data(out_dir)

    hw_graph = compile_model(qonnx_model, config.build, out_dir / "build", progress=progress)
    with atomic_path(out_dir / "hw_graph.onnx") as tmp:
        hw_graph.save(str(tmp))
    write_json(out_dir / "folding.json", read_folding(hw_graph))
    design = stitch_design(config, out_dir, hw_graph, images, progress)
    progress(f"estimate: FINN analytical estimates for {config.build.part}, hw_bnn's resource model")
    est = estimate(hw_graph, config.build.part, config.build.clock_mhz)
    est["target_cycles_per_frame"] = None if config.build.folding_file else config.build.target_cycles()
    est["hw_bnn"] = estimate_built_design(design, list(dict.fromkeys(["xc7", config.synth.family])))
    plot_estimate(est, out_dir / "estimate.png")
    update_report(out_dir, config, estimate=est)

    outputs = run_graph(hw_graph, images, desc="FINN HW-graph execution")
    _save_npy(out_dir / "finn_outputs.npy", outputs)
    acc_finn, exact, first = _compare("FINN", outputs, reference, labels)
    tail = None if exact else rounded_tail(outputs, reference, host_tail_slopes(hw_graph))
    update_report(out_dir, config, accuracy={"finn": acc_finn}, bit_exact={"finn": exact},
                  host_tail={"finn": tail})
    if not exact and tail is None:
        step = _first_diverging_step(out_dir, images[first], reference[first])
        raise HwBnnError(f"FINN HW graph differs from PyTorch on test image {first}; "
                         f"the first build step that diverges is {step}")
    return hw_graph


def design_rate_sim(report: dict) -> dict:
    """report.json's ``rtl_sim`` when it measured the design's own rate, else {}: cycles measured under
    back-pressure (``sim.backpressure``) are the stalls' rate, so later stages take the estimate's."""
    sim = report.get("rtl_sim") or {}
    return {} if (sim.get("backpressure") or {}).get("note") else sim


def sim_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> dict:
    """Generate the stitched RTL of ``hw_graph.onnx``, simulate the test images in Verilator,
    and check the outputs equal PyTorch's (and FINN's) exactly; measure cycles per image."""
    from hw_bnn.export import load_qonnx
    from hw_bnn.design.sim import Backpressure, locate_mismatch, measure_layers, simulate

    out_dir = Path(out_dir)
    design = built_design(config, out_dir)
    hw_graph = load_qonnx(out_dir / "hw_graph.onnx", rerun_hint("hw_graph.onnx"))
    images, labels, reference = _test_data(out_dir)
    n = config.sim.n_images or len(images)
    if n > len(images):
        raise HwBnnError(f"sim.n_images={n} but {out_dir} holds {len(images)} test images; raise check.n_images")
    images, labels, reference = images[:n], labels[:n], reference[:n]
    progress(f"sim: RTL in {out_dir / 'rtl'}, Verilator simulation of {n} images")
    backpressure = Backpressure.from_recipe(config.sim.backpressure)
    if not backpressure.full_rate:
        progress(f"sim: under back-pressure ({backpressure.describe()})")
    result = simulate(hw_graph, images, out_dir, waveform_images=config.sim.waveform_images,
                      backpressure=backpressure, design=design, shards=config.sim.shards)
    _save_npy(out_dir / "sim" / "outputs.npy", result.outputs)
    _save_npy(out_dir / "sim" / "cycles.npy", result.run.frame_cycles)  # the first part's, when sharded
    accuracy, exact, first = _compare("RTL", result.outputs, reference, labels)
    tail = None if exact else rounded_tail(result.outputs, reference, host_tail_slopes(hw_graph))
    est = read_report(out_dir).get("estimate") or {}
    run = result.run
    rtl_sim = {
        "images": int(n),
        "ii_cycles": run.ii_cycles,
        "latency_cycles": run.latency_cycles,
        # under back-pressure the stalls set the rate: nothing to compare with the design's estimate
        "ii_over_estimate": run.ii_cycles / est["cycles_per_frame"] if est and backpressure.full_rate else None,
        "estimate_bottleneck": est.get("bottleneck"),
        "sim_cycles_per_s": run.cycles / run.wall_s,
        "images_per_s": n / run.wall_s,
        "fifo_depth": config.sim.fifo_depth, "fifo_sizing": config.build.fifo_sizing,
        "shards": max(1, len(run.shards)),
        "waveform": str(out_dir / "sim" / "waveform.fst") if config.sim.waveform_images else None,
        "backpressure": {
            "input_valid_probability": backpressure.p_valid, "output_ready_probability": backpressure.p_ready,
            "stall_seed": backpressure.seed,
            "note": None if backpressure.full_rate else (
                "ii_cycles and latency_cycles were measured with stalls at the stream ends: they are the stalls' "
                "rate, not the design's, so ii_over_estimate is not computed; simulate at full rate to measure it"),
        },
    }
    if config.sim.per_layer:
        progress("sim: measuring each layer alone")
        rtl_sim["layers"] = measure_layers(hw_graph, images[:3], out_dir / "sim" / "layers")
        rtl_sim["bottleneck"] = max(rtl_sim["layers"], key=lambda layer: layer["ii_cycles"])["name"]
    update_report(out_dir, config, rtl_sim=rtl_sim, accuracy={"rtl": accuracy}, bit_exact={"rtl": exact},
                  host_tail={"rtl": tail})
    if not exact and tail is None:
        where = locate_mismatch(hw_graph, images[first], out_dir / "sim" / "mismatch")
        raise HwBnnError(f"RTL simulation differs from PyTorch on test image {first}: {where}")
    return rtl_sim


def synth_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> dict:
    """Synthesise the stitched RTL with Yosys for ``synth.family``; per-layer resources beside FINN's estimate."""
    from hw_bnn.synth import check_fit, get_family, place_and_route, plot_synth, synthesize

    out_dir = Path(out_dir)
    design = built_design(config, out_dir)
    progress(f"synth: Yosys for {config.synth.family} (the first call compiles Yosys' WebAssembly, ~30 s)")
    synth = synthesize(design, config.synth.family, out_dir)
    family = get_family(config.synth.family)
    if config.synth.place_and_route and family.place_and_route:
        check_fit(synth["resources"], family)
        progress(f"synth: nextpnr place and route on {family.default_device} at {config.build.clock_mhz:g} MHz")
        synth.update(place_and_route(family, out_dir, config.build.clock_mhz))
        report = read_report(out_dir)
        cycles = design_rate_sim(report).get("ii_cycles") or (report.get("estimate") or {}).get("cycles_per_frame")
        if synth["fmax_mhz"] and cycles:
            synth["fps_at_fmax"] = synth["fmax_mhz"] * 1e6 / cycles
    est = read_report(out_dir).get("estimate")
    if est:
        finn_lut = {layer["name"]: layer["lut"] for layer in est["layers"]}
        for layer in synth["layers"]:
            layer["finn_estimate_lut"] = finn_lut.get(layer["name"])
        plot_synth(synth, out_dir / f"synth_{config.synth.family}.png")
    update_report(out_dir, config, synth=synth)
    return synth


def bitstream_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> dict:
    """The accelerator behind the UART link for ``bitstream.board``: fit check, Yosys, nextpnr with the
    board's pins and clock, ecppack/icepack -> ``bitstream/<board>.bit`` (ECP5) or ``.bin`` (iCE40)."""
    import time

    from hw_bnn.board.boards import FPGA_TOP, fpga_top_verilog, get_board, plan_clocks
    from hw_bnn.board.protocol import FrameFormat, beat_bytes
    from hw_bnn.board.top import generate_board
    from hw_bnn.synth import DEVICES, check_fit, get_family, pack_bitstream, place_and_route, synthesize_flat

    out_dir = Path(out_dir).resolve()
    design = built_design(config, out_dir)
    board = get_board(config.bitstream.board)
    family = get_family(board.family)
    plan = plan_clocks(board, config.bitstream.baud, config.bitstream.accel_clock_mhz)
    cpb, pll, accel_mhz = plan.clks_per_bit, plan.pll, plan.accel_mhz
    start = time.perf_counter()
    sources = generate_board(design, cpb)
    wrapper = out_dir / "rtl" / f"{FPGA_TOP}.v"
    write_text(wrapper, fpga_top_verilog(board, pll=pll))
    folder = out_dir / "bitstream"
    folder.mkdir(exist_ok=True)
    # nextpnr reads the constraints from below its working directory (WebAssembly build)
    constraints = folder / board.constraint_file.name
    write_text(constraints, board.constraint_file.read_text())
    prefix = f"bitstream/{board.name}"
    progress(f"bitstream: Yosys synth_{family.name} of {FPGA_TOP} for {board.name} ({board.device}), "
             f"UART {config.bitstream.baud} baud = {cpb} cycles/bit at {plan.uart_mhz:.4g} MHz"
             + (" from the PLL" if plan.uart_mhz != board.clock_mhz else "") + ", accelerator at "
             + (f"{accel_mhz:.4g} MHz from the PLL" if accel_mhz != board.clock_mhz else f"the {board.clock_mhz:g} MHz board clock")
             + (f" (PLL {pll.params})" if pll else ""))
    resources = synthesize_flat([*sources, wrapper], FPGA_TOP, family.name, out_dir, prefix)
    check_fit(resources, family, board.device)
    progress(f"bitstream: nextpnr on {board.device} with {board.constraints} at {board.clock_mhz:g} MHz")
    # --freq is the target of clocks nextpnr has no frequency for; it derives the PLL output's from the oscillator's
    pnr = place_and_route(family, out_dir, max(accel_mhz, plan.uart_mhz), device_args=board.nextpnr_args,
                          netlist=f"{prefix}.json", constraints=f"bitstream/{constraints.name}", prefix=prefix,
                          device=board.device)
    # each clock against its own frequency; Fmax: the accelerator clock's (the oscillator's without a PLL)
    clocks = pnr["clocks"]
    failed = {name: c for name, c in clocks.items() if c["achieved"] < c["constraint"]}
    accel_net = next((name for name in clocks if "accel_clk" in name), None) if pll and pll.requested_mhz else None
    fmax = clocks[accel_net]["achieved"] if accel_net else pnr["fmax_mhz"]
    if failed:
        raise HwBnnError(f"timing not met on {board.name}: " + ", ".join(
            f"clock {name} reaches {c['achieved']:.1f} MHz, needs {c['constraint']:.4g}" for name, c in failed.items())
            + f" (log: {out_dir / f'{prefix}_nextpnr.log'}); lower bitstream.accel_clock_mhz, fold it differently "
            f"or pipeline the slowest path")
    bitstream = f"{prefix}.{board.bitstream_ext}"
    progress(f"bitstream: {'ecppack' if family.name == 'ecp5' else 'icepack'} -> {out_dir / bitstream}")
    pack_bitstream(family.name, out_dir, prefix, bitstream)

    report = read_report(out_dir)
    sim, est = design_rate_sim(report), report.get("estimate")
    if not est:  # cycles per frame and latency from FINN's estimate when neither build nor sim reported them
        from hw_bnn.estimate import estimate
        from hw_bnn.export import load_qonnx

        hw_graph = load_qonnx(out_dir / "hw_graph.onnx", rerun_hint("hw_graph.onnx"))
        est = estimate(hw_graph, config.build.part, config.build.clock_mhz)
    cycles = sim.get("ii_cycles") or est.get("cycles_per_frame")
    latency_cycles = sim.get("latency_cycles") or est.get("latency_cycles")
    fmt = FrameFormat.of_design(design)
    link_bytes = 1 + fmt.in_beats * beat_bytes(fmt.in_w) + fmt.out_beats * beat_bytes(fmt.out_w)
    uart_fps = config.bitstream.baud / (10 * link_bytes)
    accel_fps = accel_mhz * 1e6 / cycles if cycles else None
    capacity = DEVICES[board.device]
    load = board.load_command.format(bitstream=out_dir / bitstream)
    board_report = {
        "name": board.name,
        "device": board.device,
        "family": family.name,
        "clock_mhz": board.clock_mhz,
        "accel_clock_mhz": accel_mhz,
        "uart_clock_mhz": plan.uart_mhz,
        "pll": None if pll is None else {"requested_mhz": pll.requested_mhz, "achieved_mhz": pll.achieved_mhz,
                                         "uart_mhz": pll.uart_mhz, "vco_mhz": pll.vco_mhz, **pll.params},
        # the two domains' frequencies, and nextpnr's timing of each clock net against its constraint
        "clocks": {"uart_mhz": plan.uart_mhz, "accel_mhz": accel_mhz, "timing": clocks},
        "baud": config.bitstream.baud,
        "clks_per_bit": cpb,
        "resources": resources,
        "utilisation_pct": {k: round(100 * resources.get(k, 0) / v, 2) for k, v in capacity.items()},
        "nextpnr_utilisation": pnr["utilisation"],
        "fmax_mhz": fmax,
        "fps_at_fmax": fmax * 1e6 / cycles if fmax and cycles else None,
        "fps_at_board_clock": board.clock_mhz * 1e6 / cycles if cycles else None,
        "fps_at_accel_clock": accel_fps,
        "cycles_source": "rtl_sim" if sim.get("ii_cycles") else ("estimate" if cycles else None),
        "latency_us": latency_cycles / accel_mhz if latency_cycles else None,
        # stop-and-wait over the 8N1 link (10 bits a byte): what a host sees over the UART
        "uart_bytes_per_frame": link_bytes,
        "uart_frames_per_s": uart_fps,
        # frames/s a host gets from the board: the slower of the accelerator and the link
        "board_fps": min(accel_fps, uart_fps) if accel_fps else None,
        "board_bottleneck": None if not accel_fps else ("accelerator" if accel_fps < uart_fps else "uart"),
        "bitstream": str(out_dir / bitstream),
        "load_command": load,
        "seconds": round(time.perf_counter() - start, 1),
    }
    synth = report.get("synth")
    if not synth or synth.get("source") == "bitstream":  # no 'hw-bnn synth' section: this board's totals
        synth = {"source": "bitstream", "tool": "yosys", "family": family.name, "device": board.device,
                 "resources": resources, "layers": [], "interconnect": {k: 0 for k in resources}}
    synth.update(bitstream=str(out_dir / bitstream), board=board_report,
                 **{k: board_report[k] for k in ("fmax_mhz", "fps_at_fmax", "latency_us", "utilisation_pct")},
                 clock_constraint_mhz=accel_mhz, pnr_device=board.device)
    update_report(out_dir, config, synth=synth)
    progress(f"bitstream: {out_dir / bitstream} (Fmax {fmax:.1f} MHz, accelerator clock {accel_mhz:.4g} MHz); load it with:"
             f"\n  {load}" if fmax else f"bitstream: {out_dir / bitstream}; load it with:\n  {load}")
    return board_report


def explore_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> list[dict]:
    """Search per-layer foldings of ``hw_graph.onnx`` with our resource model, synthesise the front, and
    write the chosen folding (``hw_bnn.explore``); CSV, Pareto plot, report."""
    from hw_bnn.explore import device_capacity, explore, plot_points, write_points
    from hw_bnn.export import load_qonnx

    out_dir = Path(out_dir)
    _require(out_dir, ("hw_graph.onnx",), "build")
    cfg = config.explore
    family = device_capacity(cfg.device)[0] if cfg.device else config.synth.family
    hw_graph = load_qonnx(out_dir / "hw_graph.onnx", rerun_hint("hw_graph.onnx"))
    points, chosen = explore(hw_graph, cfg, family, config.build.clock_mhz, config.sim.fifo_depth,
                             out_dir / "explore", progress)
    write_points(points, out_dir / "explore" / "points.csv")
    plot_points(points, out_dir / "explore.png", family)
    synthesised = [p for p in points if p.get("yosys_lut") is not None]
    errors = sorted(abs(p["lut_error"]) for p in synthesised if p.get("lut_error") is not None)
    summary = {
        "family": family, "device": cfg.device, "points": len(points),
        "pareto": sum(p["pareto"] for p in points), "synthesised": len(synthesised),
        "lut_error_median": errors[len(errors) // 2] if errors else None, "lut_error_worst": errors[-1] if errors else None,
        "chosen": {k: chosen[k] for k in ("key", "cycles_per_frame", "fps", "latency_cycles", "lut", "ff", "bram")},
        "folding_file": str(out_dir / "explore" / "folding.json"),
    }
    update_report(out_dir, config, explore=summary)
    progress(f"explore: chosen {chosen['key']}: {chosen['cycles_per_frame']:,} cycles/frame, {chosen['fps']:,.0f} "
             f"frames/s, {chosen['lut']:,} LUT (estimated, {family}); build it with "
             f"--set build.folding_file={summary['folding_file']}")
    return points


def vendor_stage(config: Config, out_dir: str | Path, progress: Progress = print) -> dict:
    """FINN's own HLS/Vivado build of ``hw_graph.onnx`` for ``vendor.board`` (see ``hw_bnn.vendor``); for
    ``vendor.boards``, or on a cluster (``vendor.cluster``), one build per board as a Dask sweep."""
    from hw_bnn.vendor import vendor_build, vendor_sweep

    out_dir = Path(out_dir).resolve()
    _require(out_dir, ("hw_graph.onnx", "folding.json"), "build")
    vendor = config.vendor
    if len(vendor.boards) > 1 or vendor.cluster is not None:
        rows = vendor_sweep(out_dir / "hw_graph.onnx", out_dir / "folding.json", vendor.boards or [vendor.board],
                            config.build.clock_mhz, out_dir / "vendor", cluster=vendor.cluster,
                            workers=vendor.workers, finn=vendor.finn_command)
        for row in rows:
            progress(f"vendor: {row['board']} built on {row['host']} in {row['seconds']:,.0f} s: bitfile "
                     f"{row['bitfile'] or 'none'}, {row['LUT']} LUT, {row['fmax_mhz']} MHz (FINN's report)")
        result = {"builds": rows, "csv": str(out_dir / "vendor" / "builds.csv")}
    else:
        board = vendor.boards[0] if vendor.boards else vendor.board
        result = vendor_build(out_dir / "hw_graph.onnx", out_dir / "folding.json", board, config.build.clock_mhz,
                              out_dir / "vendor" / board, progress, finn=vendor.finn_command)
    update_report(out_dir, config, vendor=result)
    return result


STAGES: dict[str, Callable[..., object]] = {
    "teacher": teacher_stage,
    "train": train_stage,
    "export": export_stage,
    "build": build_stage,
    "sim": sim_stage,
    "synth": synth_stage,
    "explore": explore_stage,
    "bitstream": bitstream_stage,
    "vendor": vendor_stage,
}


def run(config: Config, out_dir: str | Path, progress: Progress = print) -> dict:
    """Run every stage the config enables, in order; return the report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", dump_config(config))
    for stage in config.stages:
        if stage not in STAGES:
            raise HwBnnError(f"stage '{stage}' is not available yet in this version; remove it from 'stages' "
                             f"(available: {list(STAGES)})")
    if "train" in config.stages and "export" in config.stages:
        _check_mappable(config)  # the untrained model's modules: train_stage, once it has built it
    for stage in config.stages:
        STAGES[stage](config, out_dir, progress=progress)
    return read_report(out_dir)


def run_model(model: nn.Module, images, out_dir: str | Path, labels=None, input_range=(0.0, 255.0),
              overrides: list[str] = (), stages=("export", "build", "sim"), progress: Progress = print) -> dict:
    """One call for a trained model object: export, compile and estimate it, and simulate its RTL on
    ``images``; returns the report (``out_dir/report.json``).

    ``images``: a :class:`~hw_bnn.data.Dataset` (its test split is used) or 8-bit images as an array
    (n, C, H, W); ``labels`` (optional with an array) give the accuracies, else each stage's agreement
    with PyTorch's top-1 is reported as its accuracy. ``input_range``: what ``model`` expects for a black
    and a white pixel (e.g. (0, 1) for BNN-PYNQ's models); the images stay 8-bit. ``overrides`` are recipe
    settings (``"build.target_cycles_per_frame=1000"``, ``"synth.family=ecp5"``); add ``"synth"`` to
    ``stages`` for Yosys resources.
    """
    from hw_bnn.config import load_config
    from hw_bnn.models import ScaledInput
    from hw_bnn.train import predict

    config = load_config(None, list(overrides))
    if tuple(input_range) != (0.0, 255.0):
        model = ScaledInput(model, input_range)
    if not isinstance(images, Dataset):
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise HwBnnError(f"run_model: images must be 8-bit images of shape (n, C, H, W), got {images.dtype} "
                             f"{images.shape}; e.g. images.astype(np.uint8).reshape(n, 1, 28, 28)")
        if labels is None:
            labels = predict(model.eval(), images).argmax(1)
        labels = np.asarray(labels, dtype=np.int64)
        images = Dataset("images", images[:1], labels[:1], images, labels, int(labels.max()) + 1)
    config.check.n_images = len(images.test_x) if config.check.n_images is None else config.check.n_images
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        if stage == "export":
            export_stage(config, out_dir, model=model, progress=progress, dataset=images)
        else:
            STAGES[stage](config, out_dir, progress=progress)
    report = read_report(out_dir)
    report["dataset"] = images.name
    write_json(out_dir / REPORT, report)
    return report

