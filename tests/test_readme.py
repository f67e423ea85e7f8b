"""The README's Python example runs, is the CLI's default run, and its notes say what is true."""

import json
import re
from pathlib import Path

import pytest

from jumpprocess.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _python_example() -> str:
    section = README[README.index("## In Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_example_runs_and_is_the_cli_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    namespace = {}
    exec(compile(_python_example(), "README.md (In Python)", "exec"), namespace)
    traj = namespace["traj"]
    path = tmp_path / "run.json"
    assert main(["simulate", "--seed", "0", "--json", str(path)]) == 0  # the defaults: n = 1000, m = 40
    assert json.loads(path.read_text())["events"] == traj.to_dict()["events"]
    assert namespace["p"].n == 4 and namespace["figure"].axes


def test_example_inputs_are_rows_of_samples_without_a_no_op_slice():
    example = _python_example()
    assert "[:, :4]" not in example and "one row per sample" in example


def test_torch_note_says_what_keeps_cuda_out():
    note = README[README.index("What keeps CUDA out"):][:1200]
    assert "--index-url https://download.pytorch.org/whl/cpu" in note
    assert "nvidia-*" in note and "find-links" in note and "torch-2.13.0+cpu" in note
