"""Results read well in a notebook and runs can be recomputed from what the CLI stores.

* ``Trajectory``, ``BatchSummary`` (and, in tests/validation, ``ValidationReport``) have a
  short ``repr``, an HTML ``_repr_html_`` with their table, and a method returning the table
  as data, checked against independent computations from the jump events or per-trial runs;
* ``make_instance(..., seed=S)`` is the run of ``jumpprocess simulate --seed S``;
* ``simulate --json`` stores the initialization: ``load_run(path).recompute()`` gives the
  stored trajectory, and one-time numba costs are reported apart from engine time.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jumpprocess import (
    Initialization,
    OrthogonalProblem,
    load_run,
    make_instance,
    make_problem,
    simulate,
    simulate_many,
)
from jumpprocess.cli import main
from jumpprocess.scale.batch import trial_initialization

ROOT = Path(__file__).resolve().parents[1]


def test_trajectory_repr_is_short_and_says_what_ran():
    problem, init = make_instance(1000, 40, seed=0)
    for step, method in ((None, "gradient flow"), (0.5, "gradient descent, η = 0.5")):
        text = repr(simulate(problem, init, step))
        assert len(text) < 250 and "array(" not in text
        assert text.startswith("Trajectory(n = 1000, m = 40, " + method) and "interpolated" in text


def test_jump_table_matches_the_events_and_an_independent_loss():
    problem = OrthogonalProblem([3.0, 4.0, -1.0, 2.0])
    init = Initialization([[1, 1, -1, -1], [-1, 1, 1, 1], [-1, -1, 1, -1]], [2.0, -2.0, -2.0])
    traj = simulate(problem, init)
    table = traj.jump_table()
    # by hand (tests/test_race.py): neuron 0 fits {0, 1} at τ = 4/5, then the tie at τ = 4
    assert [(row["jump"], row["neuron"], row["fitted"], row["sign"]) for row in table] == [(1, 0, 2, 1), (2, 1, 1, -1)]
    assert table[0]["tau"] == pytest.approx(0.8) and table[1]["tau"] == pytest.approx(4.0)
    # loss after each jump: unfitted label mass / (2n), from the labels directly
    assert table[0]["loss"] == pytest.approx((1.0 + 4.0) / 8) and table[1]["loss"] == pytest.approx(4.0 / 8)
    assert table[0]["rate"] == pytest.approx(5 / 4) and table[1]["ties"] == "identical sets with 2"
    json.dumps(table)  # plain Python values


def test_trajectory_html_shows_the_jump_table():
    problem, init = make_instance(200, 12, seed=2)
    traj = simulate(problem, init)
    page = traj._repr_html_()
    assert page.count("<tr>") == traj.num_jumps + 1  # header + one row per jump
    for header in ("τ", "neuron", "|fitted|", "loss after", "ties"):
        assert f"<th>{header}</th>" in page
    assert f"{traj.jump_times[0]:.6g}" in page and traj.status in page
    # 30 neurons, neuron j alone on sample j, distinct labels: 30 separate jumps
    U = np.where(np.eye(30, dtype=bool), 1.0, -1.0)
    many = simulate(OrthogonalProblem(1.0 + np.arange(30) / 100), Initialization(U, np.linalg.norm(U, axis=1)))
    assert many.num_jumps == 30
    assert "more jumps" in many._repr_html_() and many._repr_html_().count("<tr>") == 1 + 24


def test_batch_summary_repr_html_and_statistics_against_single_runs():
    problem = make_problem(30, seed=4)
    summary = simulate_many(problem, 8, 60, seed=5)
    text = repr(summary)
    assert len(text) < 250 and "array(" not in text and "60 trials" in text
    runs = [simulate(problem, trial_initialization(problem, summary, t), ties="index") for t in range(len(summary))]
    stats = {row["quantity"]: row for row in summary.statistics()}
    assert stats["interpolates"]["mean"] == pytest.approx(np.mean([run.interpolates for run in runs]))
    assert stats["jumps"]["mean"] == pytest.approx(np.mean([run.num_jumps for run in runs]))
    ratios = [run.norm_ratio for run in runs if run.interpolates]
    assert stats["norm ratio (interpolating)"]["trials"] == len(ratios)
    assert stats["norm ratio (interpolating)"]["mean"] == pytest.approx(np.mean(ratios))
    sd = np.std([run.num_jumps for run in runs], ddof=1)
    assert stats["jumps"]["ci95"] == pytest.approx(1.96 * sd / np.sqrt(len(runs)))
    page = summary._repr_html_()
    assert "<table" in page and "norm ratio (interpolating)" in page and "first 5 trials" in page


def test_make_instance_is_the_cli_run(tmp_path):
    path = tmp_path / "run.json"
    assert main(["simulate", "-n", "40", "-m", "7", "--labels", "gaussian", "--init", "gaussian", "--seed", "11",
                 "--random-norms", "--step-size", "0.3", "--json", str(path)]) == 0
    problem, init = make_instance(40, 7, "gaussian", "gaussian", seed=11, random_norms=True)
    stored = json.loads(path.read_text())
    assert simulate(problem, init, 0.3).to_dict()["events"] == stored["events"]
    np.testing.assert_array_equal(Initialization.from_dict(stored["initialization"]).preactivations, init.preactivations)


def test_json_run_round_trip_recomputes_the_trajectory(tmp_path, capsys):
    path = tmp_path / "run.json"
    assert main(["simulate", "-n", "300", "-m", "20", "--seed", "3", "--init", "gaussian", "--json", str(path)]) == 0
    run = load_run(path)
    assert run.initialization is not None and run.provenance["parameters"]["seed"] == 3
    again = run.recompute()
    assert again.to_json() == run.trajectory.to_json()
    assert load_run(path.read_text()).trajectory.to_json() == again.to_json()
    data = json.loads(path.read_text())
    del data["initialization"]
    with pytest.raises(ValueError, match="without its initialization"):
        load_run(data).recompute()
    with pytest.raises(TypeError, match="path, JSON text or a dict"):
        load_run(3)


def test_make_instance_refuses_a_bad_seed():
    with pytest.raises(ValueError, match="non-negative integer"):
        make_instance(5, 2, seed=-1)


_ONE_TIME = [sys.executable, "-m", "jumpprocess", "simulate", "-n", "20000", "-m", "64", "--max-rows", "2"]


def test_engine_time_excludes_numba_import_and_kernel_loads(tmp_path):
    """A fresh process whose simulate loads the compiled kernels (m·n >= 2^20) reports the
    numba import and the loads on their own lines and in the JSON, apart from engine time."""
    path = tmp_path / "run.json"
    run = subprocess.run(_ONE_TIME + ["--json", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    costs = [line for line in lines if line.startswith("one-time cost")]
    assert any("numba import" in line for line in costs) and any("race kernel" in line for line in costs)
    wall = next(line for line in lines if line.startswith("wall time"))
    assert "engine only" in wall
    stored = json.loads(path.read_text())["provenance"]
    assert "numba import" in stored["one_time_costs_s"]
    engine_ms = float(re.search(r"wall time\s+([0-9.]+) ms", wall).group(1))
    assert engine_ms == pytest.approx(1e3 * stored["wall_time_s"], abs=0.01)


def test_the_notebook_display_example_renders_every_table(tmp_path):
    """examples/notebook_display.py: the HTML a notebook shows, on one page."""
    import importlib.util
    import runpy

    module = runpy.run_path(str(ROOT / "examples" / "notebook_display.py"))
    page = module["render"](tmp_path / "page.html").read_text(encoding="utf-8")
    with_torch = importlib.util.find_spec("torch") is not None
    assert page.count("<h3>") == 3 + with_torch
    assert page.count("<th>|fitted|</th>") >= 2 and "norm ratio (interpolating)" in page
    if with_torch:
        assert "<th>jump err</th>" in page
