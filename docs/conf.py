"""Sphinx configuration for the jumpprocess documentation.

Build locally (from the repository root, with ``pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network: no intersphinx inventories are fetched and no links are checked.
Gallery examples (``examples/``) and notebook tutorials are executed at every build.
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are rendered off-screen, also where no display exists

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the packages, also when the project is not installed
# Kernels started by myst-nb for the notebooks inherit the environment: let them import
# the working tree too, and keep their thread pools small on shared CI machines.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import jumpprocess  # noqa: E402

project = "jumpprocess"
author = "the jumpprocess developers"
copyright = "2026, the jumpprocess developers"
version = release = jumpprocess.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
templates_path = ["_templates"]
html_static_path = []  # no custom static files (an empty folder would not survive a clone)

# No network at build time: nothing is fetched, nothing is link-checked.
intersphinx_mapping = {}

# -- API reference ----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {}  # members are listed by the autosummary templates
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_mock_imports = []
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# The top of the API reference lists every name in ``jumpprocess.__all__`` under its defining
# module, generated here so that it never lags behind the package (docs/api/toplevel.inc is
# not committed).
_SECTIONS = [("setting", "The problem and the initialization"), ("limit", "The σ → 0 limit"),
             ("finite", "Finite σ"), ("scale", "Many trials and sweeps"),
             ("interop", "Your own network and conventions")]


def _write_toplevel_names():
    lines = []
    for key, title in _SECTIONS:
        names = sorted((n for n in jumpprocess.__all__
                        if getattr(getattr(jumpprocess, n), "__module__", "").startswith(f"jumpprocess.{key}.")),
                       key=str.lower)
        if not names:
            continue
        lines += [f".. rubric:: {title}", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   ~{getattr(jumpprocess, n).__module__}.{n}" for n in names] + [""]
    text = "\n".join(lines)
    path = Path(__file__).parent / "api" / "toplevel.inc"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_write_toplevel_names()

# -- Gallery ----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Only the plot_*.py scripts are gallery examples; other scripts in examples/ (worked
    # examples that tests run) are left out of the gallery.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|/)(?!plot_)[^/]*\.py$",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "min_reported_time": 1e9,
}

# -- Notebooks (myst-nb) ----------------------------------------------------------------
nb_execution_mode = "force"  # notebooks are stored without outputs; run them every build
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]

# -- Output -----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"jumpprocess {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_last_updated_fmt = None
math_number_all = False


# -- Cross-references to re-exported names ------------------------------------------------
# Each object is documented once, in the module that defines it; text and docstrings may
# still write ``jumpprocess.simulate`` or ``theory.min_width``. Such a reference is resolved
# to the defining module's name.
def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.partition(".")[0] not in ("jumpprocess", "theory", "validation") or "." not in target:
        return None
    import importlib

    package, _, name = target.rpartition(".")  # e.g. jumpprocess.interop . compare_log
    try:
        obj = getattr(importlib.import_module(package), name)
    except (ImportError, AttributeError):
        return None
    module = getattr(obj, "__module__", None)
    if not module or module == package:
        return None
    canonical = f"{module}.{getattr(obj, '__qualname__', name)}"
    domain = env.get_domain("py")
    for role in ("class", "func", "data", "obj"):
        found = domain.resolve_xref(env, node.get("refdoc"), app.builder, role, canonical,
                                    node, contnode)
        if found is not None:
            return found
    return None


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
