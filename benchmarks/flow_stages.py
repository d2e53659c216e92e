"""Time each stage of the demo flow (train, export + QONNX check, build + estimate + FINN check, RTL sim).

Usage: .venv/bin/python benchmarks/flow_stages.py [--recipe training/recipes/demo.yaml] [--set k=v ...]
Prints one table row per stage: seconds, and images/s for the stages that execute graphs.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hw_bnn import flow
from hw_bnn.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="training/recipes/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config = load_config(args.recipe, args.overrides)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for stage in ("train", "export", "build", "sim"):
            start = time.perf_counter()
            flow.STAGES[stage](config, out, progress=lambda message: None)
            rows.append((stage, time.perf_counter() - start))
        report = flow.read_report(out)
    n = report["n_test"]
    print(f"\n{config.name}: {report['model']} on {report['dataset']}, {n} test images, "
          f"{config.train.epochs} epochs")
    print(f"{'stage':<10}{'seconds':>10}  what")
    what = {"train": "training (PyTorch, CPU)",
            "export": f"export + QONNX execution of {n} images",
            "build": f"FINN compile + estimate + FINN execution of {n} images",
            "sim": f"RTL generation + Verilator build (cached) + simulation of {n} images"}
    for stage, seconds in rows:
        print(f"{stage:<10}{seconds:>10.1f}  {what[stage]}")
    print(f"{'total':<10}{sum(s for _, s in rows):>10.1f}")
    print(f"accuracy: pytorch {report['accuracy']['pytorch']:.4f}, finn {report['accuracy']['finn']:.4f}, "
          f"rtl {report['accuracy']['rtl']:.4f}; bit-exact finn: {report['bit_exact']['finn']}, rtl: {report['bit_exact']['rtl']}")


if __name__ == "__main__":
    main()
