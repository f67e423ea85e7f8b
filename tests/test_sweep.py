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
    OutputInUse,
    TornLineWarning,
    select_records,
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
        trajectory = simulate(problem, pattern_initialization(problem, task.m, results["seeds"][5]), ties="index")
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
    with pytest.warns(TornLineWarning, match=r"results.jsonl line 6: torn record .*unterminated.*skipped"):
        assert len(load_results(path)) == 5
    with pytest.warns(TornLineWarning, match=r"line 6: .*moved to .*results.jsonl.torn"):
        records = run_sweep(tasks, tmp_path, workers=1, progress=False)
    assert (tmp_path / "results.jsonl.torn").read_text().startswith('{"key": "n=30|m=4|labels=sign-balanced"')
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
    assert "8 tasks, 120/120 trials" in capsys.readouterr().out
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


def _trial_columns(records, tasks):
    """Per grid point, every wanted trial's results in trial order (from select_records)."""
    columns = {}
    for record in sorted(select_records(records, tasks), key=lambda r: (r["task"]["chunk"], r["task"].get("start", 0))):
        entry = columns.setdefault((record["task"]["n"], record["task"]["m"]), {name: [] for name in SUMMARY_FIELDS})
        for name in SUMMARY_FIELDS:
            entry[name].extend(record["results"][name])
    return columns


def test_growing_trials_adds_exactly_the_missing_trials(tmp_path):
    def tasks(trials, chunk=1000):
        return sweep_tasks([200], [16], trials=trials, chunk=chunk, seed=1)

    run_sweep(tasks(100), tmp_path / "grown", workers=1, progress=False)
    grown = run_sweep(tasks(300), tmp_path / "grown", workers=1, progress=False)
    fresh = run_sweep(tasks(300), tmp_path / "fresh", workers=1, progress=False)
    assert [r["task"]["trials"] for r in grown] == [100, 200]  # only trials 100-299 were computed
    assert _trial_columns(grown, tasks(300)) == _trial_columns(fresh, tasks(300))
    assert len(_trial_columns(grown, tasks(300))[(200, 16)]["seeds"]) == 300
    # shrinking computes nothing and uses the first trials; another chunking adds the rest
    run_sweep(tasks(50), tmp_path / "grown", workers=1, progress=False, on_record=lambda *_: pytest.fail("re-ran"))
    assert _trial_columns(grown, tasks(50)) == _trial_columns(fresh, tasks(50))
    rechunked = run_sweep(tasks(400, chunk=150), tmp_path / "grown", workers=1, progress=False)
    again = run_sweep(tasks(400, chunk=150), tmp_path / "rechunked", workers=1, progress=False)
    assert _trial_columns(rechunked, tasks(400, chunk=150)) == _trial_columns(again, tasks(400, chunk=150))
    with open(tmp_path / "grown" / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len({(r["task_seed"], r["trial"]) for r in rows}) == len(rows)  # no trial twice


def test_cli_resume_reports_the_grown_trials(tmp_path, capsys):
    from jumpprocess.cli import main

    base = ["sweep", "--n", "200", "--m", "16", "--output", str(tmp_path), "--workers", "1", "--no-progress",
            "--no-figures"]
    assert main(base + ["--trials", "100"]) == 0
    assert main(base + ["--trials", "300"]) == 0
    assert "1 tasks, 300/300 trials" in capsys.readouterr().out
    with open(tmp_path / "results.csv") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == 300


def test_a_second_sweep_on_the_same_output_is_refused_naming_the_holder(tmp_path, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from jumpprocess.scale.sweep import _OutputLock; "
         "lock = _OutputLock(Path(sys.argv[1])).__enter__(); print('locked', flush=True); time.sleep(60)",
         str(tmp_path / "results.jsonl.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputInUse, match=rf"in use by another sweep \(pid {holder.pid} on host "):
            run_sweep(small_tasks(), tmp_path, workers=1, progress=False)
        from jumpprocess.cli import main

        assert main(["sweep", "--n", "20", "--trials", "2", "--output", str(tmp_path), "--no-progress"]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert not (tmp_path / RESULTS_NAME).exists()
    finally:
        holder.kill()
        holder.wait()
    run_sweep(small_tasks()[:1], tmp_path, workers=1, progress=False)  # the kernel freed the lock with the holder
    assert (tmp_path / "results.jsonl.lock").read_text() == ""


def test_a_torn_line_is_reported_and_set_aside_and_nothing_else_is_lost(reference, tmp_path):
    tasks = small_tasks()
    run_sweep(tasks, tmp_path / "full", workers=1, progress=False)
    lines = (tmp_path / "full" / RESULTS_NAME).read_bytes().splitlines(keepends=True)
    # a writer killed mid-line, then another append continuing on the same line
    fragment = lines[2][: len(lines[2]) // 2]
    poisoned = b"".join(lines[:2]) + fragment + lines[3] + b"not json at all\n" + b"".join(lines[4:])
    path = tmp_path / RESULTS_NAME
    path.write_bytes(poisoned)
    with pytest.warns(TornLineWarning) as caught:
        records = run_sweep(tasks, tmp_path, workers=1, progress=False)
    messages = [str(w.message) for w in caught]
    assert any(f"{path} line 3: torn record ({len(fragment)} bytes" in m for m in messages), messages
    assert any(f"{path} line 4: torn record" in m for m in messages), messages
    assert by_key(records) == reference  # record 4 (after the fragment) kept, record 3 recomputed
    assert len(path.read_text().splitlines()) == len(tasks)
    assert (tmp_path / "results.jsonl.torn").read_bytes() == fragment + b"\n" + b"not json at all\n"


def _descendants(pid):
    import os

    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
def test_a_killed_sweep_leaves_no_process_behind(tmp_path):
    import os
    import subprocess
    import sys
    import time

    script = ("import sys; from jumpprocess.scale.sweep import run_sweep, sweep_tasks; "
              "run_sweep(sweep_tasks([3000], [40], trials=40000, chunk=1000, seed=0, sampling='weights'), "
              "sys.argv[1], workers=2, progress=False)")
    sweep = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while len(_descendants(sweep.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        family = _descendants(sweep.pid)
        assert len(family) >= 2, "the sweep did not start its workers"
    finally:
        sweep.kill()
        sweep.wait()
    deadline = time.monotonic() + 20
    alive = family
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in family if os.path.exists(f"/proc/{pid}") and
                 open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    for pid in alive:  # clean up before failing
        os.kill(pid, 9)
    assert not alive, f"processes left running after the sweep was killed: {alive}"
