"""The documentation: it builds without warnings, and every page the code cites exists.

The build (``python -m sphinx -W --keep-going -b html docs docs/_build/html``, see
``docs/building.rst``) runs the gallery scripts and executes the notebook tutorials, so this
test also checks that they run against the current code. It is skipped only where Sphinx is
not installed; CI installs the ``docs`` extra, so there it always runs.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Where the mathematics is cited: code, docstrings, --help texts, tests, benchmarks, README.
CITING = ["jumpprocess", "theory", "validation", "tests", "benchmarks", "examples", "README.md"]
# A page, optionally followed by quoted section titles: docs/math/<page>.rst, "A" and "B".
CITATION = re.compile(r'docs/math/([A-Za-z0-9_-]+)\.rst((?:(?:,|\s+and)?\s*["“][^"”\n]+["”])*)')
TITLE = re.compile(r'["“]([^"”\n]+)["”]')
GENERATED = ("_build", "auto_examples", "generated", "jupyter_execute", "sg_execution_times.rst")


def _citing_files():
    for entry in CITING:
        path = ROOT / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*") if p.suffix in (".py", ".md", ".rst", ".txt"))


def _section_titles(page: Path) -> set:
    """Titles of a reStructuredText page: lines underlined by a row of one punctuation mark."""
    lines = page.read_text(encoding="utf-8").splitlines()
    return {
        lines[k].strip()
        for k in range(len(lines) - 1)
        if lines[k].strip() and re.fullmatch(r"([=\-~^\"'`#*+])\1{2,}", lines[k + 1].strip())
    }


def test_every_cited_docs_page_and_section_exists():
    missing = []
    for path in _citing_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            page = ROOT / "docs" / "math" / f"{match.group(1)}.rst"
            where = f"{path.relative_to(ROOT)}: {match.group(0)}"
            if not page.is_file():
                missing.append(f"{where} (no such page)")
            else:
                titles = _section_titles(page)
                missing += [f"{where} (no section titled {title!r})"
                            for title in TITLE.findall(match.group(2)) if title.strip() not in titles]
    assert not missing, "citations of docs pages that do not exist:\n" + "\n".join(missing)


# Citations of documents that are not in the repository: sections of the old specification
# (by section sign and number, or its file name) and of the house style guide. The mathematics is
# cited as docs/math/<page>.rst. (The section sign is written \u00a7 here, so this file passes too.)
OUTSIDE = re.compile(r"[Ss]pec \u00a7|(?<![\w\u00a7])\u00a7\d|spec/limit[-]process|STYLE \u00a7|spec[_]section")


def test_no_citation_of_documents_outside_the_repository():
    docs = [p for p in (ROOT / "docs").rglob("*")
            if p.suffix in (".rst", ".md", ".py", ".ipynb") and not set(p.relative_to(ROOT).parts) & set(GENERATED)]
    offenders = []
    for path in [*_citing_files(), *docs]:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "cite docs/math/<page>.rst instead:\n" + "\n".join(offenders)


def test_documentation_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    # Build from a copy so that the generated gallery and API pages never touch the tree.
    ignore = shutil.ignore_patterns(*GENERATED, "__pycache__", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=ignore)
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=ignore)
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
               str(tmp_path / "docs"), str(tmp_path / "html")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"sphinx failed:\n{result.stdout[-6000:]}\n{result.stderr[-12000:]}"
    html = tmp_path / "html"
    for page in ["index", "math/race", "tutorials/quickstart", "auto_examples/index", "api/index"]:
        assert (html / f"{page}.html").is_file(), page
    # The notebook was executed: its figure and its printed jump table are in the page.
    quickstart = (html / "tutorials" / "quickstart.html").read_text(encoding="utf-8")
    assert "interpolated" in quickstart and "<img" in quickstart
    # Every gallery script produced a figure.
    scripts = sorted((ROOT / "examples").glob("plot_*.py"))
    images = html / "_images"
    for script in scripts:
        assert list(images.glob(f"sphx_glr_{script.stem}_*.png")), f"{script.name} drew no figure"


def test_validation_tutorial_script_runs(capsys):
    """The script shown in docs/tutorials/validation.rst (real PyTorch training, small)."""
    pytest.importorskip("torch")
    import runpy

    module = runpy.run_path(str(ROOT / "examples" / "validate_against_training.py"))
    report = module["run"](sigmas=(1e-4, 1e-16), verbose=True)
    out = capsys.readouterr().out
    assert "verdict:" in out and len(report.sigmas) == 2
    assert report.verdict == "converging"  # the real network follows the limit on this instance
