"""The benchmark scripts run end to end (on tiny settings) so that they cannot rot."""

import subprocess
import sys
from pathlib import Path

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
