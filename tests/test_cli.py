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
    [(["simulate", "-n", "0"], "argument -n/--n: expected a positive integer"),
     (["simulate", "-m", "-2"], "argument -m/--m: expected a non-negative integer"),
     (["simulate", "--step-size", "-1"], "argument --step-size: expected a finite number > 0")],
)
def test_bad_options_exit_2_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
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


# ---- issue 12: every bad option is a usage error naming it, checked before any work ----

@pytest.mark.parametrize(
    "args, option, expected",
    [
        (["simulate", "--seed", "-1"], "--seed", "non-negative integer"),
        (["simulate", "-n", "0"], "-n/--n", "positive integer"),
        (["simulate", "-m", "-2"], "-m/--m", "non-negative integer"),
        (["simulate", "--step-size", "-1"], "--step-size", "> 0"),
        (["simulate", "--step-size", "nan"], "--step-size", "> 0"),
        (["simulate", "--max-rows", "-1"], "--max-rows", "non-negative integer"),
        (["sweep", "--n", "10", "--m", "-2"], "--m", "'auto' or a non-negative integer"),
        (["sweep", "--n", "10", "--m", "foo"], "--m", "'auto' or a non-negative integer"),
        (["sweep", "--n", "0"], "--n", "positive integer"),
        (["sweep", "--n", "10", "--trials", "0"], "--trials", "positive integer"),
        (["sweep", "--n", "10", "--seed", "-1"], "--seed", "non-negative integer"),
        (["sweep", "--n", "10", "--workers", "0"], "--workers", "positive integer"),
        (["theory", "-n", "10", "-m", "-1"], "-m/--m", "non-negative integer"),
        (["theory", "-n", "10", "-m", "3", "--delta", "1.5"], "--delta", "(0, 1)"),
        (["theory", "-n", "10", "-m", "3", "--seed", "-1"], "--seed", "non-negative integer"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(args, option, expected, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected" in err and expected in err, err


def test_main_returns_the_status_of_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert main(["simulate", "--no-such-option"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("max_rows", [0, 1, 2, 3, 5])
def test_jump_table_is_well_formed_for_any_max_rows(max_rows, capsys):
    assert main(["simulate", "-n", "60", "-m", "12", "--max-rows", str(max_rows)]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[1].splitlines()[1:]
    jumps = int(next(line.split()[1] for line in out.splitlines() if line.startswith("jumps")))
    assert jumps > 5
    numbers = [int(line.split()[0]) for line in table if not line.lstrip().startswith("…")]
    assert len(numbers) == min(max_rows, jumps) and numbers == sorted(set(numbers))
    [more] = [line for line in table if line.lstrip().startswith("…")]
    assert f"({jumps - len(numbers)} more jumps" in more or f"({jumps - len(numbers)} jumps not shown" in more


def test_memory_is_estimated_before_anything_is_allocated(monkeypatch, capsys):
    from jumpprocess import cliargs

    assert main(["simulate", "-n", "1000000000000", "-m", "40"]) == 2  # 8e12 x 40 float64: no machine has it
    err = capsys.readouterr().err
    assert "of memory" in err and "PB" in err and "-n 1000000000000 -m 40" in err
    monkeypatch.setattr(cliargs, "available_memory", lambda: 10**6)
    assert main(["simulate", "-n", "1000", "-m", "40"]) == 2
    captured = capsys.readouterr()
    assert "needs about" in captured.err and "1 MB" in captured.err and "status" not in captured.out
    assert main(["simulate", "-m", "10000000000"]) == 2


def test_outputs_are_checked_before_computing(tmp_path, capsys):
    folder = tmp_path / "exists"
    folder.mkdir()
    cases = [
        (["simulate", "-n", "20", "-m", "4", "--json", str(folder)], "--json", "is a folder"),
        (["simulate", "-n", "20", "-m", "4", "--json", str(tmp_path / "missing" / "t.json")], "--json", "does not exist"),
        (["simulate", "-n", "20", "-m", "4", "--plot", str(tmp_path / "missing" / "t.png")], "--plot", "does not exist"),
        (["simulate", "-n", "20", "-m", "4", "--json", "/proc/t.json"], "--json", "cannot write"),
        (["sweep", "--n", "20", "--output", str(tmp_path / "file.txt"), "--no-progress"], "--output", "is a file"),
        (["sweep", "--n", "20", "--output", "/proc/sweep", "--no-progress"], "--output", "cannot create"),
    ]
    (tmp_path / "file.txt").write_text("not a folder")
    for args, option, message in cases:
        assert main(args) == 2, args
        captured = capsys.readouterr()
        assert option in captured.err and message in captured.err, captured.err
        assert "status" not in captured.out and "tasks" not in captured.out


def test_unreachable_scheduler_fails_fast_with_a_message(tmp_path, capsys):
    args = ["sweep", "--n", "20", "--trials", "2", "--output", str(tmp_path / "s"), "--no-progress",
            "--scheduler", "tcp://127.0.0.1:1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:1" in err and "cannot reach" in err
    assert not (tmp_path / "s" / "results.jsonl").exists() or not (tmp_path / "s" / "results.jsonl").read_text()


@pytest.mark.parametrize("command", [["simulate", "-n", "400", "-m", "30", "--max-rows", "200"],
                                     ["theory", "-n", "40", "-m", "12", "--trials", "0"], ["--help"]])
def test_output_piped_into_head_exits_quietly(command):
    import subprocess

    # `true` never reads and exits at once: every write of the command meets a closed pipe
    pipeline = (f"{sys.executable} -c 'import sys; from jumpprocess.cli import main; sys.exit(main(sys.argv[1:]))' "
                + " ".join(command) + " | true; exit ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode in (0, 1)


def test_simulate_ties_option_and_its_json(tmp_path, capsys):
    # make_instance(20, 6, seed=0) has an overlapping tie: the flow default resolves it by the
    # joint escape (as simulate() does), --ties index keeps the convention; both are recorded.
    from jumpprocess import load_run, make_instance

    problem, init = make_instance(20, 6, seed=0)
    assert simulate(problem, init, ties="index").ambiguous
    base = ["simulate", "-n", "20", "-m", "6", "--seed", "0"]
    for extra, rule in (([], "joint"), (["--ties", "index"], "index")):
        path = tmp_path / f"{rule}.json"
        assert main(base + extra + ["--json", str(path)]) == 0
        out = capsys.readouterr().out
        expected = simulate(problem, init, ties=rule)
        assert ("joint escape" in out) == (rule == "joint") and ("ambiguous" in out) == (rule == "index")
        saved = load_run(path)
        assert saved.trajectory.ties == rule and saved.trajectory.to_dict() == expected.to_dict()
        assert saved.recompute().to_dict() == expected.to_dict()
    # a flow run without a tie records the default rule too
    plain_problem, plain_init = make_instance(20, 6, seed=3)
    assert not simulate(plain_problem, plain_init, ties="index").ambiguous
    assert main(["simulate", "-n", "20", "-m", "6", "--seed", "3", "--json", str(tmp_path / "plain.json")]) == 0
    assert load_run(tmp_path / "plain.json").trajectory.ties == "joint"


def test_joint_ties_under_gradient_descent_are_refused_before_any_work(capsys):
    assert main(["simulate", "--step-size", "0.5", "--ties", "joint"]) == 2
    assert "gradient flow only" in capsys.readouterr().err
    assert main(["simulate", "-n", "20", "-m", "6", "--step-size", "0.5", "--ties", "index"]) == 0
