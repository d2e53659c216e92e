"""The ``hw-bnn`` command line: one subcommand per stage, ``run`` for all of them."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from hw_bnn.errors import HwBnnError


def _stacks_on_sigusr1() -> None:
    """``kill -USR1 PID`` prints where every thread of a stuck run is (a data-parallel job waiting on a
    peer, a loader worker that stopped) to stderr, and the run goes on."""
    import faulthandler
    import signal

    # the process's own stderr: sys.stderr may be replaced by an object without a file descriptor
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hw-bnn", description="Binary neural networks to FPGA dataflow accelerators.")
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {
        "teacher": "train (or load, from method_options.teacher) the full-precision teacher a method "
                   "distils from (BD-BNN) into OUT/teacher",
        "train": "train the recipe's model (checkpoint per epoch; --resume continues); data-parallel when "
                 "started by torchrun (torchrun --nproc_per_node=N -m hw_bnn.cli train ...)",
        "export": "export the trained model to QONNX and check it equals PyTorch",
        "build": "compile to a folded FINN HW graph, estimate it, check FINN execution equals PyTorch",
        "sim": "generate the RTL of the HW graph, simulate it in Verilator, check it equals PyTorch",
        "synth": "synthesise the RTL with Yosys (synth.family: xc7, ecp5, ice40): resources per layer and total",
        "bitstream": "place and route the accelerator behind a UART link for a board and write its bitstream "
                     "(--board: ulx3s-85f, ulx3s-45f, ulx3s-12f, icebreaker; same as --set bitstream.board=B; "
                     "baud rate: --set bitstream.baud=115200)",
        "explore": "search per-layer foldings of the built graph with hw_bnn's resource model, synthesise the "
                   "Pareto front on Dask (explore.cluster), choose for explore.device / budgets / target_fps: "
                   "CSV, Pareto plot, explore/folding.json",
        "vendor": "FINN's own Vitis HLS / Vivado build of the same folded graph for a Zynq board "
                  "(--board: pynq-z1, pynq-z2, zcu104); needs vivado and vitis_hls on PATH, otherwise "
                  "writes FINN's build config and says what to run where they are",
        "run": "run every stage the recipe enables and print a summary",
    }
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("config", help="recipe YAML, e.g. training/recipes/demo.yaml")
        sub.add_argument("--out", required=True, help="output folder of this run")
        sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config field by dotted path, e.g. --set train.epochs=1 (repeatable)")
        if name == "train":
            sub.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
            sub.add_argument("--auto-resume", action="store_true",
                             help="continue from OUT/checkpoint.pt if it exists, else start: the same command "
                                  "serves the first start and every restart (torchrun --max-restarts)")
        if name in ("bitstream", "vendor"):
            sub.add_argument("--board", help=f"board to build for (shorthand for --set {name}.board=BOARD)")
    text = ("report the Python packages, the tools of every stage (Verilator, Yosys, nextpnr, g++, Vivado), a "
            "GPU and the data sets this machine has, with what to do for each missing piece")
    commands.add_parser("doctor", help=text, description=text)
    text = ("rewrite a checkpoint you trust that holds pickled Python objects (which hw_bnn refuses to load) as "
            "its weights alone, loadable with torch.load(weights_only=True)")
    convert = commands.add_parser("convert-checkpoint", help=text, description=text)
    convert.add_argument("source", help="the trusted file: it is unpickled in full, which runs any code it names")
    convert.add_argument("target", help="the new file, {'model': state dict of tensors}")
    return parser


def _quiet_third_party() -> None:
    """Keep the terminal for our own progress: the libraries' notes on internals go unprinted.

    FINN's folding search logs each node it could not fold to the target; the summary states
    the reached cycles per frame and the bottleneck instead.
    """
    for module in ("brevitas", "qonnx", "finn", "torch", "onnxscript"):
        warnings.filterwarnings("ignore", module=module)
    for logger in ("finn_logger", "torch.onnx", "torch.onnx._internal.exporter._registration"):
        logging.getLogger(logger).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _quiet_third_party()
    _stacks_on_sigusr1()
    rank = 0
    try:
        if args.command == "doctor":
            from hw_bnn import doctor

            sections = doctor.diagnose()
            print(doctor.report(sections))
            return 0 if doctor.core_flow_ready(sections) else 1
        if args.command == "convert-checkpoint":
            from hw_bnn.io import convert_checkpoint

            left_out = convert_checkpoint(args.source, args.target)
            print(f"wrote {args.target}: the weights of {args.source}" +
                  (f"; left out: {', '.join(left_out)}" if left_out else ""))
            return 0
        from hw_bnn import flow
        from hw_bnn.config import load_config
        from hw_bnn.report import summary_lines, write_markdown
        from hw_bnn.train import CHECKPOINT, distributed, rank_and_world

        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.command != "train":
            raise HwBnnError(f"'hw-bnn {args.command}' runs in one process; start only 'hw-bnn train' with "
                             f"torchrun, then run 'hw-bnn {args.command}' without it")
        overrides = list(args.overrides)
        if getattr(args, "board", None):
            overrides.append(f"{args.command}.board={args.board}")
        config = load_config(args.config, overrides)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        flow.read_report(out)  # a damaged report.json stops the command now, not after the stage's work
        if args.command == "run":
            flow.run(config, out)
        elif args.command == "train":
            with distributed():
                rank, _ = rank_and_world()
                # every rank trains in step; only rank 0 prints and writes (flow.train_stage)
                resume = args.resume or (args.auto_resume and (out / CHECKPOINT).is_file())
                flow.train_stage(config, out, resume=resume,
                                 progress=print if rank == 0 else lambda message: None)
            if rank != 0:
                return 0
        else:
            flow.STAGES[args.command](config, out)
        report = flow.read_report(out)
        write_markdown(report, out / "report.md")
        print("\n".join(summary_lines(report)))
        print(f"\nwrote {out / 'report.json'} and {out / 'report.md'}")
    except HwBnnError as exc:
        where = f" (rank {rank})" if rank else ""
        print(f"hw-bnn{where}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
