"""Sphinx extension of the hw_bnn docs: pages made from the files themselves, not copied into them.

- ``{verilog-modules}``: every module under ``hls/rtl/``, grouped by folder, with the header comment
  that documents its parameters, stream protocol, packing and timing.
- ``{benchmark-scripts}``: every script under ``benchmarks/`` with its docstring (what it measures,
  its usage).
- The notebooks shown are the committed ones with their outputs: a notebook with a cell that was
  never run, or that ended in an error, fails the build (``notebooks/regenerate.py`` reruns them).
"""

import ast
import json
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
RTL = ROOT / "hls" / "rtl"
BENCHMARKS = ROOT / "benchmarks"
NOTEBOOKS = ROOT / "notebooks"
#: Header lines that are the same in every file and say nothing about the module.
_BOILERPLATE = ("SPDX-License-Identifier", "Copyright", "Language:")


def verilog_header(path: Path) -> str:
    """The leading ``//`` comment of a Verilog file, without the licence lines."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("//"):
            break
        text = line[2:].removeprefix(" ")
        if not text.startswith(_BOILERPLATE):
            lines.append(text)
    header = "\n".join(lines).strip("\n")
    if not header:
        raise ExtensionError(f"{path.relative_to(ROOT)} has no header comment: document the module at its top")
    return header


def _section(document, title: str, *children) -> nodes.section:
    section = nodes.section(ids=[nodes.make_id(f"{document}-{title}")])
    section += nodes.title(text=title)
    for child in children:
        section += child
    return section


class VerilogModules(SphinxDirective):
    """One section per ``hls/rtl`` folder, one sub-section per module with its header."""

    def run(self):
        sections = []
        for folder in sorted(p for p in RTL.iterdir() if p.is_dir()):
            modules = []
            for path in sorted(folder.glob("*.v")):
                self.env.note_dependency(str(path))
                literal = nodes.literal_block(text=verilog_header(path))
                modules.append(_section("rtl", path.stem, literal))
            if modules:
                sections.append(_section("rtl", f"hls/rtl/{folder.name}/", *modules))
        return sections


class BenchmarkScripts(SphinxDirective):
    """One section per ``benchmarks/*.py`` script with its module docstring."""

    def run(self):
        sections = []
        for path in sorted(BENCHMARKS.glob("*.py")):
            self.env.note_dependency(str(path))
            doc = ast.get_docstring(ast.parse(path.read_text()))
            if not doc:
                raise ExtensionError(f"benchmarks/{path.name} has no docstring: say what it measures and how to run it")
            sections.append(_section("bench", f"benchmarks/{path.name}", nodes.literal_block(text=doc)))
        return sections


def notebook_problems(folder: Path = NOTEBOOKS) -> list[str]:
    """What stops the notebooks in ``folder`` from being shown: a code cell never run, or one that
    ended in an error."""
    problems = []
    for path in sorted(folder.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
                continue
            name = f"{path.name} cell {index}"
            if cell.get("execution_count") is None:
                problems.append(f"{name} was never run")
            problems += [f"{name} ended in {out.get('ename')}: {out.get('evalue')}"
                         for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    return problems


def check_notebook_outputs(app) -> None:
    problems = notebook_problems()
    if problems:
        raise ExtensionError("the notebooks are shown with their committed outputs: " + "; ".join(problems)
                             + ". Rerun them with '.venv/bin/python notebooks/regenerate.py' and commit them")


def setup(app):
    app.add_directive("verilog-modules", VerilogModules)
    app.add_directive("benchmark-scripts", BenchmarkScripts)
    app.connect("builder-inited", check_notebook_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
