"""Run a representative set of recipes end to end, or compare two such sets' reports.

A refactor of the flow must not change what it builds: every recipe's bit-exactness,
accuracies, estimates, cycle counts and latencies stay the same. ``run`` trains each recipe
for one short epoch on a small split (Fashion-MNIST recipes on 2,000/200 images, the residual
CIFAR-10 ones on a generated CIFAR-format folder) and runs export, build and sim;
``compare`` prints each report.json field that differs between two runs, timings left out.

    .venv/bin/python benchmarks/recipe_reports.py run --out build/reports_before
    .venv/bin/python benchmarks/recipe_reports.py run --out build/reports_after --reuse build/reports_before
    .venv/bin/python benchmarks/recipe_reports.py compare build/reports_before build/reports_after

``--reuse`` copies the trained models of an earlier run and rebuilds from them (export, build,
sim), so that only the hardware flow is compared, not training.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "training" / "recipes"
#: One recipe of each architecture and hardware feature: MLP and CNV baselines, AdaBin,
#: the per-sample (dynamic) thresholds of DyBNN and SD-BNN, BD-BNN, and residual nets.
SET = ["demo", "fmnist_adabin", "fmnist_dybnn", "fmnist_sdbnn_se", "fmnist_cnv_baseline", "fmnist_cnv_adabin",
       "fmnist_cnv_dybnn", "fmnist_cnv_sdbnn_static", "fmnist_bdbnn",
       "cifar10_resnet20_baseline", "cifar10_resnet20_adabin", "cifar10_reactnet_dybnn"]
SHORT = ["train.epochs=1", "check.n_images=60", "data.n_test=60"]
SMALL_SPLIT = {"fashion_mnist": ["data.n_train=2000"],
               # the CIFAR recipes only train: add the hardware stages, folded for a simulation of minutes
               "cifar10": ["data.n_train=500", "data.n_test=10", "check.n_images=10",
                           "stages=[train,export,build,sim]", "build.target_cycles_per_frame=2000"]}
#: Recipes whose defaults train what the hardware cannot take yet: the setting that maps.
HARDWARE_FORM = {"cifar10_reactnet_dybnn": ["method_options.residual_shifts=static"]}
#: Report fields that measure the machine, not the design.
TIMING = re.compile(r"seconds|_per_s$|wall|elapsed|time")


def cifar_folder(folder: Path) -> Path:
    """CIFAR-10 python batches of random images (enough to build and simulate, not to learn)."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 100) for i in range(1, 6)), ("test_batch", 100)]:
        batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, size=n).tolist()}
        (batches / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def run(out: Path, reuse: Path | None) -> None:
    from hw_bnn.cli import main
    from hw_bnn.config import load_config

    cifar = cifar_folder(out / "cifar10")
    for name in SET:
        recipe = RECIPES / f"{name}.yaml"
        dataset = load_config(recipe).data.name
        overrides = (SHORT + SMALL_SPLIT.get(dataset, []) + HARDWARE_FORM.get(name, [])
                     + ([f"data.path={cifar}"] if dataset == "cifar10" else []))
        args = [a for o in overrides for a in ("--set", o)]
        run_dir = out / name
        print(f"== {name}", flush=True)
        if reuse is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            # the trained model, and the report's training sections (export, build and sim rewrite theirs)
            for kept in ("model.pt", "config.yaml", "report.json"):
                if (reuse / name / kept).exists():
                    shutil.copyfile(reuse / name / kept, run_dir / kept)
            stages = ["export", "build", "sim"]
        else:
            stages = ["run"]
        for stage in stages:
            if main([stage, str(recipe), "--out", str(run_dir), *args]) != 0:
                sys.exit(f"{name}: {stage} failed")


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


def compare(before: Path, after: Path) -> int:
    differences = 0
    for name in SET:
        a = _flatten(json.loads((before / name / "report.json").read_text()))
        b = _flatten(json.loads((after / name / "report.json").read_text()))
        fields = sorted(k for k in a.keys() | b.keys() if not TIMING.search(k.rsplit(".", 1)[-1]))
        changed = [k for k in fields if a.get(k) != b.get(k)]
        print(f"{name:28s} {len(fields):4d} fields, {'same' if not changed else f'{len(changed)} differ'}")
        for k in changed:
            print(f"    {k}: {a.get(k)!r} -> {b.get(k)!r}")
        differences += len(changed)
    return 1 if differences else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    run_args = verbs.add_parser("run")
    run_args.add_argument("--out", type=Path, required=True)
    run_args.add_argument("--reuse", type=Path, help="a run folder whose trained models to rebuild from")
    compare_args = verbs.add_parser("compare")
    compare_args.add_argument("before", type=Path)
    compare_args.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.verb == "run":
        run(args.out, args.reuse)
    else:
        sys.exit(compare(args.before, args.after))
