"""The command line (main(argv) returns an exit code) and the scripts users run."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from jumpprocess import Trajectory, make_problem, sample_initialization, simulate
from jumpprocess.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_default_simulate_runs_the_built_in_instance(capsys):
    assert main(["simulate"]) == 0
    out = capsys.readouterr().out
    assert "n = 1000, m = 40, labels sign-balanced, init balanced" in out
    assert "status" in out and "ratio" in out and "wall time" in out


def test_simulate_writes_lossless_json_and_plot(tmp_path, capsys):
    path, png = tmp_path / "t.json", tmp_path / "t.png"
    args = ["simulate", "-n", "60", "-m", "9", "--labels", "gaussian", "--init", "gaussian", "--seed", "4",
            "--step-size", "0.5", "--json", str(path), "--plot", str(png)]
    assert main(args) == 0
    data = json.loads(path.read_text())
    assert data["provenance"]["parameters"]["seed"] == 4
    traj = Trajectory.from_json(path.read_text())
    # same seeds as the CLI: spawned from --seed
    p_seed, i_seed = np.random.SeedSequence(4).spawn(2)
    problem = make_problem(60, "gaussian", seed=np.random.default_rng(p_seed))
    again = simulate(problem, sample_initialization(problem, 9, "gaussian", seed=np.random.default_rng(i_seed)), 0.5)
    assert traj.jump_times.tolist() == again.jump_times.tolist()
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, message",
    [(["simulate", "-n", "0"], "--n must be >= 1"), (["simulate", "-m", "-2"], "--m must be >= 0"),
     (["simulate", "--step-size", "-1"], "step_size")],
)
def test_bad_options_exit_2_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("simulate", "theory", "validate", "sweep"):
        assert name in out
    assert "unavailable" not in out


def test_quickstart_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    assert "status: interpolated" in capsys.readouterr().out


def test_engine_benchmark_script_runs_small(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_engine.py"])
    module = runpy.run_path(str(ROOT / "benchmarks" / "bench_engine.py"))
    assert module["main"](["--n", "3000", "--m", "12", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "one pass (reference)" in out and "race" in out and "simulate" in out


def test_missing_extra_is_a_clear_error_not_a_traceback(monkeypatch, tmp_path, capsys):
    from jumpprocess import plotting

    def missing():
        raise ImportError("plotting needs matplotlib: pip install 'jumpprocess[plot]'")

    monkeypatch.setattr(plotting, "require_matplotlib", missing)
    assert main(["simulate", "-n", "20", "-m", "4", "--plot", str(tmp_path / "x.png")]) == 2
    captured = capsys.readouterr()
    assert "pip install 'jumpprocess[plot]'" in captured.err
    assert "status" not in captured.out  # nothing computed before the check
    assert not (tmp_path / "x.png").exists()
