"""Rerun the notebooks and commit what they show: every cell's outputs (plots, tables, the waveform
excerpt) are saved in the .ipynb, so a reader sees them on a repository browser and in the docs.

Usage: .venv/bin/python notebooks/regenerate.py [NAME.ipynb ...]     (default: every notebook here)

Each notebook runs from the repository root, as the tests run it (``tests/test_notebooks.py``), in a
fresh kernel; its builds go to ``build/notebook_NN``. A cell that fails stops the script and leaves the
committed notebook as it was (the new one is written beside it and renamed only when complete). Cell
ids are numbered and execution timings dropped, so a rerun changes only what the outputs changed.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Above this a notebook is too heavy to review; its images are at 90-100 dpi, so it would mean a new
#: plot or table that should be smaller.
MAX_BYTES = 400_000


def notebooks() -> list[Path]:
    return sorted(HERE.glob("*.ipynb"))


def execute(path: Path, timeout: int = 900):
    """The notebook at ``path`` run in a fresh kernel from the repository root, with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return notebook


def errors(notebook) -> list[str]:
    """The error outputs of an executed notebook, as 'cell N: Name: message'."""
    return [f"cell {index}: {out.get('ename')}: {out.get('evalue')}"
            for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def tidy(notebook) -> None:
    """Stable cell ids and no per-run metadata, so reruns give small diffs."""
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)


def regenerate(path: Path) -> int:
    """Run one notebook and write it back with its outputs; the size written."""
    notebook = execute(path)
    failed = errors(notebook)
    if failed:
        raise RuntimeError(f"{path.name}: " + "; ".join(failed) + " (the committed notebook is unchanged)")
    tidy(notebook)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, tmp)
    size = tmp.stat().st_size
    tmp.replace(path)
    return size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to rerun (default: all)")
    args = parser.parse_args(argv)
    known = {path.name: path for path in notebooks()}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"no notebook {', '.join(unknown)} in {HERE}; there are {', '.join(known)}")
    for name in args.names or list(known):
        start = time.monotonic()
        print(f"{name}: running ...", flush=True)
        size = regenerate(known[name])
        print(f"{name}: {size / 1000:.0f} kB written in {time.monotonic() - start:.0f} s", flush=True)
        if size > MAX_BYTES:
            print(f"{name}: over {MAX_BYTES / 1000:.0f} kB, too heavy to review: make its pictures smaller",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
