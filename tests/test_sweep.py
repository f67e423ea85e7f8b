"""Resumable sweeps (jumpprocess.scale.sweep): seeds, persistence, resumption, local and Dask runs, CLI.

Invariants: every record can be reproduced from its recorded seeds; an interrupted sweep,
resumed (even after a truncated write), ends with exactly the records of an uninterrupted
run, each once; serial, multi-process and Dask runs give identical records.
"""

import argparse
import csv
import json

import numpy as np
import pytest

from jumpprocess import make_problem, simulate
from jumpprocess.scale.batch import SUMMARY_FIELDS, pattern_initialization, simulate_many, trial_seeds
from jumpprocess.scale.sweep import (
    RESULTS_NAME,
    add_parser,
    auto_width,
    load_results,
    plot_sweep,
    run_sweep,
    sweep_tasks,
)


def small_tasks(seed=3):
    return sweep_tasks([30, 60], [4, "auto"], ["sign-balanced"], ["balanced"], trials=60, chunk=20, seed=seed)


def by_key(records):
    return {record["key"]: record["results"] for record in records}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted serial run of the small sweep."""
    out = tmp_path_factory.mktemp("reference")
    return by_key(run_sweep(small_tasks(), out, workers=1, progress=False))


def test_task_grid_chunks_seeds_and_stability():
    tasks = small_tasks()
    assert len(tasks) == 2 * 2 * 3
    assert len({t.key for t in tasks}) == len(tasks)
    assert len({t.seed for t in tasks}) == len(tasks)
    assert {t.m for t in tasks if t.n == 60} == {4, auto_width(60)} and auto_width(60) == round(4 * np.log2(60))
    per_point = {}
    for t in tasks:
        per_point[(t.n, t.m)] = per_point.get((t.n, t.m), 0) + t.trials
    assert set(per_point.values()) == {60}
    # Growing the grid never changes an existing task (so old results stay valid).
    bigger = {t.key: t for t in sweep_tasks([30, 60, 90], [4, "auto", 7], ["sign-balanced"], ["balanced"],
                                            trials=60, chunk=20, seed=3)}
    assert all(bigger[t.key] == t for t in tasks)
    assert {t.seed for t in small_tasks(seed=4)}.isdisjoint({t.seed for t in tasks})


def test_records_are_reproducible_from_recorded_seeds(reference, tmp_path):
    for task in small_tasks()[:4]:
        results = reference[task.key]
        problem = make_problem(task.n, task.labels, seed=task.problem_seed)
        again = simulate_many(problem, task.m, task.trials, init=task.init, seed=task.seed)
        for name in SUMMARY_FIELDS:
            expected = [None if v != v else v for v in again[name].tolist()]
            assert results[name] == expected, name
        assert results["seeds"] == trial_seeds(task.seed, task.trials).tolist()
        trajectory = simulate(problem, pattern_initialization(problem, task.m, results["seeds"][5]))
        assert results["num_jumps"][5] == trajectory.num_jumps
        assert results["squared_norm"][5] == pytest.approx(trajectory.squared_norm, rel=1e-12)


def test_interrupted_sweep_resumes_without_loss_or_duplicates(reference, tmp_path):
    tasks = small_tasks()

    class Interrupt(Exception):
        pass

    def stop_after_five(task, record, seen=[]):
        seen.append(task.key)
        if len(seen) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_sweep(tasks, tmp_path, workers=1, progress=False, on_record=stop_after_five)
    path = tmp_path / RESULTS_NAME
    assert len(load_results(path)) == 5
    with open(path, "a") as handle:  # an interrupted write: half a line, no newline
        handle.write('{"key": "n=30|m=4|labels=sign-balanced", "task": {"n": 3')
    assert len(load_results(path)) == 5
    records = run_sweep(tasks, tmp_path, workers=1, progress=False)
    lines = path.read_text().splitlines()
    assert len(lines) == len(tasks) and all(json.loads(line)["key"] for line in lines)
    assert [r["key"] for r in records] == [json.loads(line)["key"] for line in lines]
    assert by_key(records) == reference
    # Resuming a finished sweep runs nothing and writes nothing.
    run_sweep(tasks, tmp_path, workers=1, progress=False, on_record=lambda *_: pytest.fail("re-ran a task"))
    assert path.read_text().splitlines() == lines
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(t.trials for t in tasks)
    assert len({(r["task_seed"], r["trial"]) for r in rows}) == len(rows)


def test_local_processes_match_serial(reference, tmp_path):
    records = run_sweep(small_tasks(), tmp_path, workers=2, progress=False)
    assert by_key(records) == reference


def test_dask_local_cluster_matches_serial(reference, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        records = run_sweep(small_tasks(), tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert by_key(records) == reference


def test_cli_subcommand_runs_and_draws_figures(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="jumpprocess")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", "--n", "20", "40", "--m", "3", "auto", "--trials", "30", "--chunk", "15",
                              "--output", str(tmp_path), "--workers", "1", "--no-progress"])
    assert args.func(args) == 0
    assert "8/8 tasks" in capsys.readouterr().out
    for name in ("interpolation.png", "norm_ratio.png", "jumps.png"):
        assert (tmp_path / name).stat().st_size > 1000
    with open(tmp_path / "results.csv") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == 2 * 2 * 30


def test_figures_from_mixed_records(tmp_path):
    assert load_results(tmp_path / RESULTS_NAME) == []  # no file yet: no records
    tasks = sweep_tasks([16], [3, 6], ["sign-random", "gaussian"], ["balanced", "gaussian"], trials=10, chunk=10, seed=0)
    paths = plot_sweep(run_sweep(tasks, tmp_path, workers=1, progress=False), tmp_path / "fig")
    assert [p.name for p in paths] == ["interpolation.png", "norm_ratio.png", "jumps.png"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(ns=[]), "grid is empty"),
    (dict(ns=[0]), "positive integer"),
    (dict(ns=[10], trials=0), "positive integers"),
])
def test_invalid_grids(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep_tasks(**kwargs)


def test_unknown_kinds_are_rejected():
    with pytest.raises(ValueError):
        sweep_tasks([10], labels=["sign-weird"])


def test_records_of_earlier_versions_read_with_the_current_meaning_of_ambiguous(tmp_path):
    # Before identical_ties existed, "ambiguous" meant any overlapping tie (identical sets too).
    old = {"key": "old", "task": {"n": 2, "m": 2, "trials": 3}, "results": {
        "ambiguous": [True, True, False], "function_determined": [True, False, True]}}
    (tmp_path / RESULTS_NAME).write_text(json.dumps(old) + "\n")
    [record] = load_results(tmp_path / RESULTS_NAME)
    assert record["results"]["ambiguous"] == [False, True, False]
    assert record["results"]["identical_ties"] == [True, None, False]  # trial 1: unknown
