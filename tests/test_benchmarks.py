"""The benchmark scripts run end to end (on tiny settings) so that they cannot rot."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "train.epochs=1", "--set", "data.n_train=200", "--set", "check.n_images=10",
        "--set", "model.options.hidden=[16]"]


def test_flow_stages_prints_every_stage():
    result = subprocess.run([sys.executable, "benchmarks/flow_stages.py", *TINY], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in ("train", "export", "build", "sim", "total"):
        assert any(line.startswith(stage) for line in result.stdout.splitlines()), stage
    assert "bit-exact finn: True, rtl: True" in result.stdout


def test_fpga_targets_prints_both_targets():
    result = subprocess.run([sys.executable, "benchmarks/fpga_targets.py", *TINY, "--refold-fps", "200000",
                             "--sim-images", "10"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for design in ("sfc, folded for 100,000 frames/s", "sfc, re-folded for 200,000 frames/s"):
        row = next(line for line in lines if line.startswith(design) and line.endswith("x"))  # throughput table
        assert float(row.split()[-4].replace(",", "")) > 0  # frames/s at Fmax
    assert any(line.startswith("FINN TFC-W1A1") for line in lines)
    assert sum(line.startswith("total") for line in lines) == 2  # one LUT table per design
    assert "Why FINN's LUT estimate and Yosys differ" in result.stdout


def benchmark_module(name: str):
    """A script of benchmarks/ (not a package) imported as a module, for its pure functions."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fpga_targets_ratios_and_lut_table():
    bench = benchmark_module("fpga_targets")
    row = bench.throughput(125.0, 1000)
    assert row["fps_at_fmax"] == 125_000 and row["fps_per_mhz"] == 1000
    assert row["vs_finn_fps"] == pytest.approx(125_000 / 837_019)
    assert row["vs_finn_per_mhz"] == pytest.approx(1000 / 8370.19)

    estimate = [{"name": "Thresholding_0", "op": "Thresholding_rtl", "pe": 1, "simd": 1, "lut": 117, "bram18": 0},
                {"name": "MVAU_0", "op": "MVAU_hls", "pe": 8, "simd": 28, "lut": 1866, "bram18": 13}]
    synth = {"layers": [{"name": "Thresholding_0", "resources": {"LUT": 8, "BRAM18": 0}},
                        {"name": "MVAU_0", "resources": {"LUT": 760, "BRAM18": 13}}],
             "interconnect": {"LUT": 115, "BRAM18": 0}, "resources": {"LUT": 883, "BRAM18": 13}}
    rows = bench.lut_rows(estimate, synth)
    assert [r["layer"] for r in rows] == ["Thresholding_0", "MVAU_0", "FIFOs + width converters", "total"]
    assert rows[1]["lanes"] == 224 and rows[1]["finn_over_yosys"] == pytest.approx(1866 / 760)
    assert rows[2]["finn_lut"] == 0 and rows[2]["finn_over_yosys"] is None
    assert (rows[3]["finn_lut"], rows[3]["yosys_lut"], rows[3]["finn_bram18"]) == (1983, 883, 13)
    with pytest.raises(HwBnnError, match="MVAU_0 of the synthesised design has no FINN estimate"):
        bench.lut_rows(estimate[:1], synth)


def test_fpga_targets_names_the_missing_build(tmp_path):
    bench = benchmark_module("fpga_targets")
    with pytest.raises(HwBnnError, match=r"export.onnx is missing; run 'hw-bnn run training/recipes/sfc.yaml"):
        bench.benchmark(load_config(None), tmp_path, refold_fps=0, sim_images=10)


def test_methods_benchmark_tables_every_method_and_reuses_finished_runs(tmp_path):
    """Two methods, two seeds on a 300-image subset; a second call reads the runs back."""
    command = [sys.executable, "benchmarks/methods_fmnist.py", "--methods", "baseline", "adabin", "--seeds", "2",
               "--epochs", "1", "--out", str(tmp_path), "--set", "data.n_train=300", "--set", "data.n_test=100",
               "--set", "model.options.hidden=[16]"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = [line for line in first.stdout.splitlines() if line.startswith("| baseline") or line.startswith("| adabin")]
    assert len(rows) == 2 and "| 2 |" in rows[0]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "train:" not in again.stdout  # nothing retrained
    assert [l for l in again.stdout.splitlines() if l.startswith("| adabin")] == rows[1:]


@pytest.mark.slow
def test_adabin_overhead_tables_both_methods_and_the_difference(tmp_path):
    """A tiny MLP of each method through train..synth; the table has both rows, bit-exact, and the
    difference row agrees with them."""
    command = [sys.executable, "benchmarks/adabin_overhead.py", "--epochs", "1", "--images", "20",
               "--out", str(tmp_path), "--set", "data.n_train=300", "data.n_test=50", "model.options.hidden=[16]",
               "build.target_fps=null", "build.target_cycles_per_frame=400"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| ")}
    assert rows["baseline"][1] == rows["adabin"][1] == "yes"
    lut = lambda name: int(rows[name][2].replace(",", ""))  # noqa: E731
    assert int(rows["AdaBin - baseline"][2].replace(",", "")) == lut("adabin") - lut("baseline")
    assert int(rows["adabin"][5]) > 0  # the combine units' multipliers


def test_cifar_epoch_time_prints_seconds_per_epoch(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_data import write_cifar_folder

    write_cifar_folder(tmp_path / "cifar")
    result = subprocess.run([sys.executable, "benchmarks/cifar_epoch_time.py",
                             "training/recipes/cifar10_resnet20_baseline.yaml", "--epochs", "2", "--data",
                             str(tmp_path / "cifar"), "--out", str(tmp_path / "out"), "--set",
                             "model.options.width=0.125"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.startswith("| cifar10_resnet20_baseline"))
    seconds = [float(cell) for cell in row.strip("| ").split(" | ")[-2:]]
    assert len(seconds) == 2 and all(s > 0 for s in seconds)


def test_byom_tables_a_bnn_pynq_model_beside_finns_figures_and_reads_finished_runs_back(tmp_path):
    """TFC-1w1a on tiny settings (1 epoch, 10 images, folded for 2000 cycles, Yosys without place and
    route): its row says which stages were exact and the cycles against the estimate; FINN's rows are
    labelled as theirs; a second call reads the finished run back instead of rerunning it."""
    command = [sys.executable, "benchmarks/byom.py", "--models", "tfc", "--epochs", "1", "--images", "10",
               "--no-pnr", "--out", str(tmp_path), "--set", "data.n_train=300", "build.target_cycles_per_frame=2000"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    row = next(line for line in first.stdout.splitlines() if line.startswith("| tfc-1w1a"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "exact" and cells[2] in ("exact", "integers") and cells[3] in ("exact", "integers")
    assert 0.95 <= float(cells[6]) <= 1.05 and int(cells[7].replace(",", "")) > 0  # sim/estimate, LUT
    assert "FINN's published figures for the same networks (theirs" in first.stdout
    assert any(line.startswith("| CNV-W1A1 | finn-examples") for line in first.stdout.splitlines())
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert "== tfc" not in again.stdout and row in again.stdout


def test_byom_says_what_each_stage_proved():
    bench = benchmark_module("byom")
    tail = {"integer_outputs_exact": True, "top1_exact": True, "max_abs_diff": 3e-7}
    report = {"bit_exact": {"qonnx": True, "finn": False, "rtl": False}, "host_tail": {"finn": tail}}
    assert [bench.stage_exactness(report, s) for s in ("qonnx", "finn", "rtl")] == ["exact", "integers", "NO"]


@pytest.mark.parametrize("method", ["baseline", "adabin"])  # AdaBin: a float output combine on the host
def test_sim_speed_times_every_execution_and_the_sharded_run_agrees(method):
    result = subprocess.run([sys.executable, "benchmarks/sim_speed.py", "--images", "20", "--shards", "2", *TINY,
                             "--set", "check.n_images=20", "--set", f"method={method}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outputs identical (PyTorch == FINN == RTL): yes" in result.stdout
    assert "sharded run identical to one process (outputs, cycles/image, latency): yes" in result.stdout
    assert any(line.startswith("RTL sim: simulate(shards=2) call") for line in result.stdout.splitlines())


def test_fifo_sizing_benchmark_tables_a_finished_build_and_names_a_missing_one(tmp_path):
    from hw_bnn.cli import main

    run = tmp_path / "demo"
    assert main(["run", "training/recipes/demo.yaml", "--out", str(run), *TINY,
                 "--set", "stages=[train, export, build]", "--set", "build.fifo_sizing=fixed"]) == 0
    result = subprocess.run([sys.executable, "benchmarks/fifo_sizing.py", str(run), "--images", "6",
                             "--out", str(tmp_path / "sizing")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.startswith("| demo |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    fixed_beats, sized_beats = (int(v.replace(",", "")) for v in cells[2].split(" -> "))
    assert sized_beats < fixed_beats  # a 32-beat FIFO on every link is more than the demo needs
    fixed, sized_and_deep = cells[6].split(" -> ")
    sized, deep = sized_and_deep.rstrip(")").split(" (")
    fixed, sized, deep = (float(v.replace(",", "")) for v in (fixed, sized, deep))
    assert fixed >= sized == deep > 0  # (with one 16-unit hidden layer, 32-beat FIFOs slow it: 1,153 cycles)
    missing = subprocess.run([sys.executable, "benchmarks/fifo_sizing.py", str(tmp_path / "nowhere")], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode != 0 and "run 'hw-bnn build'" in missing.stderr


def test_pareto_front_keeps_the_designs_no_other_beats_on_cost_and_accuracy():
    bench = benchmark_module("methods_hardware")
    points = {"cheap": (100, 80.0), "better": (200, 82.0), "dominated": (250, 81.0), "tie": (200, 82.0),
              "best": (400, 85.0)}
    assert bench.pareto(points) == ["cheap", "better", "tie", "best"]
    assert bench.pareto({"only": (1, 1.0)}) == ["only"]


def test_methods_hardware_tables_accuracy_beside_the_exact_accelerator_of_each_method(tmp_path):
    """Two methods, two seeds of the conv net on a 300-image subset, no synthesis: both rows bit-exact with
    RTL cycles and FINN's LUT estimate, the device named, the Pareto plot written."""
    command = [sys.executable, "benchmarks/methods_hardware.py", "--methods", "baseline", "irnet", "--seeds", "2",
               "--epochs", "1", "--device", "cpu", "--no-synth", "--out", str(tmp_path), "--set", "data.n_train=300",
               "--set", "data.n_test=100", "--set", "check.n_images=6"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on cpu" in result.stdout
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in result.stdout.splitlines() if line.startswith("| baseline") or line.startswith("| irnet")}
    assert set(rows) == {"baseline", "irnet"}
    for cells in rows.values():
        assert " ± " in cells[1] and cells[2] == "yes" and int(cells[3].replace(",", "")) > 0
        assert int(cells[4].replace(",", "")) > 0 and cells[5] == "–"  # FINN's estimate; no Yosys run
    assert any(cells[-1] == "*" for cells in rows.values())
    assert (tmp_path / "cnv_hardware.png").stat().st_size > 0 and (tmp_path / "cnv_hardware.json").is_file()


def test_estimate_calibration_fit_rebuilds_the_model_and_tables_the_held_out_errors(tmp_path):
    model = tmp_path / "model.json"
    result = subprocess.run([sys.executable, "benchmarks/estimate_calibration.py", "fit", "--model", str(model)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(model.read_text()) == json.loads((ROOT / "hw_bnn" / "resource_model.json").read_text())
    for family in ("xc7", "ecp5"):
        assert f"\n{family}: MemoryRule(" in result.stdout
    assert "| mlp_300 |" in result.stdout and "per layer (>= 100 LUT" in result.stdout


def test_explore_scale_times_the_estimate_and_draws_the_fronts(tmp_path):
    result = subprocess.run([sys.executable, "benchmarks/explore_scale.py", "--out", str(tmp_path), "--nets", "sfc",
                             "--synth", "0", "--points", "40"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"\| sfc \| ecp5 \| [\d,]+ \| [\d.]+ \| [\d,]+ \|", result.stdout)
    assert "sfc on LFE5U-85F:" in result.stdout and "sfc on xc7z020:" in result.stdout
    assert (tmp_path / "front_sfc_xc7z020.png").is_file()
