"""Sphinx configuration of the hw_bnn documentation.

Build (what the tests run, strict): ``.venv/bin/python -m sphinx -W --keep-going -b html docs build/docs``.
Pages are MyST Markdown (they read as plain Markdown on a repository browser too); the notebooks are
rendered from their committed outputs by myst-nb, never executed here (``tests/test_notebooks.py``
executes them, ``notebooks/regenerate.py`` rewrites their outputs).
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

import hw_bnn  # noqa: E402  (after the path set-up above)

project = "hw_bnn"
author = "hw_bnn contributors"
release = hw_bnn.__version__

extensions = [
    "myst_nb",  # Markdown pages and notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinxcontrib.autodoc_pydantic",
    "hw_bnn_docs",  # the Verilog modules and benchmark scripts, read from their headers
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

myst_heading_anchors = 3  # '[text](page.md#a-heading)' links, as on a repository browser
myst_enable_extensions = ["dollarmath"]
nb_execution_mode = "off"  # the committed outputs are what is shown; the tests execute the notebooks

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_pydantic_model_show_json = False
autodoc_pydantic_model_member_order = "bysource"  # as in config.py, where related fields sit together
autodoc_pydantic_model_summary_list_order = "bysource"
autodoc_pydantic_model_show_config_summary = False
autodoc_pydantic_model_show_validator_summary = False
autodoc_pydantic_model_show_validator_members = False
autodoc_pydantic_field_list_validators = False

html_theme = "furo"
html_title = f"hw_bnn {release}"
