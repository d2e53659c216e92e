"""The documentation site builds in Sphinx's strict mode, from the files it documents, and the README
stays a front page that links into it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw_bnn import config

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import hw_bnn_docs  # noqa: E402  (docs/_ext is not a package)


def _sphinx(source: Path, out: Path) -> subprocess.CompletedProcess:
    """The README's docs command: warnings are errors, and all of them are reported."""
    return subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                           str(source), str(out)], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    result = _sphinx(DOCS, out)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_every_page_is_built(site):
    pages = {path.relative_to(DOCS).with_suffix(".html").as_posix() for path in DOCS.rglob("*.md")}
    pages |= {f"notebooks/{path.stem}.html" for path in (ROOT / "notebooks").glob("*.ipynb")}
    missing = sorted(page for page in pages if not (site / page).is_file())
    assert not missing


def test_every_recipe_field_is_documented_from_the_models(site):
    """The config reference is generated: every field of every section, with its description."""
    html = (site / "recipes.html").read_text()
    sections = [model for model in vars(config).values()
                if isinstance(model, type) and issubclass(model, config._Section) and model is not config._Section]
    assert len(sections) >= 10
    for model in sections:
        for field in model.model_fields:
            assert f'id="hw_bnn.config.{model.__name__}.{field}"' in html, f"{model.__name__}.{field}"
    assert "Label smoothing of the cross-entropy" in html  # a field's '#:' comment became its description


def test_every_verilog_module_and_benchmark_has_its_section(site):
    rtl = (site / "rtl.html").read_text()
    for path in (ROOT / "hls" / "rtl").rglob("*.v"):
        assert f'id="rtl-{path.stem.replace("_", "-")}"' in rtl, path.name
        first_line = hw_bnn_docs.verilog_header(path).splitlines()[0]
        assert first_line.split(" -- ")[0] in rtl
    benchmarks = (site / "benchmarks.html").read_text()
    for path in (ROOT / "benchmarks").glob("*.py"):
        assert f"benchmarks/{path.name}" in benchmarks


def test_the_notebooks_are_shown_with_their_outputs(site):
    html = (site / "notebooks" / "02_rtl_simulation.html").read_text()
    assert "np.array_equal(RTL, PyTorch): True" in html
    assert html.count("<img") >= 2  # the per-layer cycles and the waveform excerpt


def test_a_broken_link_fails_the_build(tmp_path):
    """Strict means strict: one link to a page that does not exist stops the build, naming it."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, symlinks=True)
    for name in ("README.md", "notebooks", "hls", "benchmarks"):  # what the pages include or read
        (tmp_path / name).symlink_to(ROOT / name)
    layout = source / "layout.md"
    layout.write_text(layout.read_text() + "\nSee [the old page](no-such-page.md).\n")
    result = _sphinx(source, tmp_path / "html")
    assert result.returncode != 0
    assert "no-such-page" in result.stderr


def test_a_notebook_without_outputs_or_with_an_error_is_refused(tmp_path):
    notebook = {"cells": [{"cell_type": "code", "source": ["1 + 1"], "execution_count": None, "outputs": [],
                           "metadata": {}},
                          {"cell_type": "code", "source": ["1 / 0"], "execution_count": 2, "metadata": {},
                           "outputs": [{"output_type": "error", "ename": "ZeroDivisionError",
                                        "evalue": "division by zero", "traceback": []}]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "broken.ipynb").write_text(__import__("json").dumps(notebook))
    assert hw_bnn_docs.notebook_problems(tmp_path) == [
        "broken.ipynb cell 0 was never run", "broken.ipynb cell 1 ended in ZeroDivisionError: division by zero"]
    assert hw_bnn_docs.notebook_problems() == []  # the committed ones


def _heading_anchors(markdown: str) -> set[str]:
    """The anchors a repository browser (and MyST's ``myst_heading_anchors``) gives a page's headings."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_readme_is_a_front_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12_000
    links = [link for link in re.findall(r"\]\(([^)]+)\)", readme) if not link.startswith("http")]
    assert len(links) >= 15
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / (path or "README.md")
        assert target.exists(), link
        if anchor:
            assert anchor in _heading_anchors(target.read_text()), link
    # the two commands, and the docs command the README gives
    assert "bash .ci/setup && .venv/bin/python -m pytest -q" in readme
    assert "-m sphinx -W --keep-going -b html docs build/docs" in readme
