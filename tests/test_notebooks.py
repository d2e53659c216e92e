"""The notebooks are executed end to end so that they cannot rot, and are committed with what they
show (plots, tables, the waveform excerpt) at a size a reviewer can read."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["01_quickstart.ipynb", "02_rtl_simulation.ipynb", "03_bitstream.ipynb"]

_spec = importlib.util.spec_from_file_location("regenerate", ROOT / "notebooks" / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)


def test_every_notebook_is_listed():
    assert sorted(path.name for path in regenerate.notebooks()) == NAMES


#: Executed under --runslow only: what they run is tested on its own in the default suite (the RTL simulation
#: and waveform in tests/test_rtl_flow.py, the bitstream in tests/test_bitstream.py), and executing them took
#: 1.5 minutes of the suite; their committed outputs are checked below in every run.
SLOW_TO_RUN = {"02_rtl_simulation.ipynb", "03_bitstream.ipynb"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_TO_RUN else [])
                                  for name in NAMES])
def test_notebook_runs(name):
    notebook = regenerate.execute(ROOT / "notebooks" / name)
    assert regenerate.errors(notebook) == []


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_with_its_outputs(name):
    path = ROOT / "notebooks" / name
    assert path.stat().st_size <= regenerate.MAX_BYTES
    code = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] is not None for cell in code)
    outputs = [out for cell in code for out in cell["outputs"]]
    assert not [out for out in outputs if out["output_type"] == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs)  # a plot
    assert any("text/html" in out.get("data", {}) for out in outputs)  # a table
