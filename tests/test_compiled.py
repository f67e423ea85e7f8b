"""The compiled passes of one simulate (jumpprocess.limit.compiled) decide exactly as numpy does.

Race: every decision (neuron, fitted samples, tie group, overlap and identity flags) is
the numpy race's; with uniform weights (±1 labels, unit norms) every number is bit-identical,
otherwise times agree to rounding. Alignment: sign stability is decided exactly on both
paths, so signs and good sets are identical. Also: kernels are cached on disk, a fresh
process reuses them, and their one-time cost is recorded apart from engine time.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jumpprocess import Initialization, OrthogonalProblem, make_problem, sample_initialization, simulate
from jumpprocess.limit import compiled
from jumpprocess.limit.alignment import _sign_stable_pass, align
from jumpprocess.limit.race import run_race
from strategies import initializations, problems

ROOT = Path(__file__).resolve().parents[1]


def _decisions(events):
    return [(e.neuron, e.fitted.tolist(), e.tied_with, e.overlapping, e.identical) for e in events]


def _both_races(problem, init, step):
    good = align(problem, init, step).good_sets
    signal_sq = problem.signal**2
    return (run_race(good, signal_sq, problem.n, step, compiled=False),
            run_race(good, signal_sq, problem.n, step, compiled=True))


@pytest.mark.parametrize("step", [None, 0.5])
@pytest.mark.parametrize("n, m, seed", [(7, 3, 0), (64, 20, 1), (1000, 40, 2), (300, 130, 3), (2000, 9, 4)])
def test_uniform_weights_give_bit_identical_races(n, m, seed, step):
    problem = make_problem(n, "sign-balanced", seed=seed)
    numpy_race, compiled_race = _both_races(problem, sample_initialization(problem, m, "balanced", seed=seed + 7), step)
    assert compiled_race.events == numpy_race.events  # times too, bit for bit
    np.testing.assert_array_equal(compiled_race.exponents, numpy_race.exponents)
    np.testing.assert_array_equal(compiled_race.rates, numpy_race.rates)


def test_tie_heavy_races_decide_the_same():
    """Few samples, many neurons and ±1 labels: tie groups of every kind (disjoint,
    overlapping, identical, members left with nothing)."""
    kinds = set()
    for seed in range(60):
        problem = make_problem(6, "sign-balanced", seed=seed)
        init = sample_initialization(problem, 24, "balanced", seed=seed)
        numpy_race, compiled_race = _both_races(problem, init, None)
        assert compiled_race.events == numpy_race.events
        np.testing.assert_array_equal(compiled_race.exponents, numpy_race.exponents)
        kinds |= {(bool(e.tied_with), e.overlapping, e.identical) for e in numpy_race.events}
    assert {(True, False, False), (True, True, True), (True, True, False)} <= kinds


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([None, 0.3]))
def test_non_uniform_races_make_the_same_decisions(data, step):
    problem = data.draw(problems())
    init = data.draw(initializations(problem, max_m=12))
    numpy_race, compiled_race = _both_races(problem, init, step)
    assert _decisions(compiled_race.events) == _decisions(numpy_race.events)
    np.testing.assert_allclose([e.time for e in compiled_race.events], [e.time for e in numpy_race.events], rtol=1e-11)


@pytest.mark.parametrize("kind", ["balanced", "output-dominated", "gaussian"])
def test_sign_stable_pass_decides_exactly_as_numpy(kind):
    problem = make_problem(500, "gaussian", seed=5, random_norms=True)
    init = sample_initialization(problem, 33, kind, seed=6)
    results = []
    for use in (False, True):
        signs = np.zeros(init.m, dtype=np.int8)
        good = np.zeros((init.m, problem.n), dtype=bool)
        stable = _sign_stable_pass(problem, init, signs, good, compiled=use)
        results.append((stable, signs, good))
    for numpy_part, compiled_part in zip(*results):
        np.testing.assert_array_equal(compiled_part, numpy_part)


def test_sign_stable_pass_on_the_boundary_and_out_of_range():
    """C = a² − Σ z₊² exactly 0 (stable), negative by one rounding unit, and squares that
    leave the normal range: the compiled pass defers them to the exact decision."""
    problem = OrthogonalProblem([1.0, -1.0, 1.0], [1.0, 1.0, 3.0])
    U = np.array([[3.0, -1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [2e-170, 1.0, 0.0], [2e200, -1.0, 0.0]])
    a = np.array([3.0, np.nextafter(np.sqrt(2.0), 0.0), 1 / 3 * 3.1622776601683795, 1e-170, 1e200])
    init = Initialization(U, a)
    outcomes = []
    for use in (False, True):
        signs = np.zeros(init.m, dtype=np.int8)
        good = np.zeros((init.m, problem.n), dtype=bool)
        outcomes.append((_sign_stable_pass(problem, init, signs, good, compiled=use), signs, good))
    for numpy_part, compiled_part in zip(*outcomes):
        np.testing.assert_array_equal(compiled_part, numpy_part)
    assert outcomes[0][0][0] and not outcomes[0][0][1]  # C = 0 is stable; C = −ulp is not


def test_simulate_takes_the_compiled_path_for_large_problems_with_the_same_result(monkeypatch):
    problem = make_problem(4000, "sign-balanced", seed=3)
    init = sample_initialization(problem, 40, "balanced", seed=4)
    monkeypatch.setattr(compiled, "COMPILED_FROM", 1 << 62)
    plain = simulate(problem, init)
    monkeypatch.setattr(compiled, "COMPILED_FROM", 0)
    fast = simulate(problem, init)
    assert fast.to_json() == plain.to_json()
    assert compiled.is_loaded("race") and compiled.is_loaded("alignment")


def test_kernels_are_cached_on_disk_and_costs_are_recorded():
    compiled.race_events(np.ones((2, 3), dtype=bool), np.ones(3), 3, None)
    for name in ("race", "alignment", "descent"):
        if not compiled.is_loaded(name):
            continue
        dispatcher = compiled._KERNELS[name]
        assert type(dispatcher._cache).__name__ != "NullCache", name  # cache=True
    names = [what for what, seconds in compiled.one_time_costs()]
    assert any("race kernel" in what for what in names)
    assert all(seconds >= 0 for _, seconds in compiled.one_time_costs())


_FRESH = """
import json, numpy as np
from jumpprocess import make_problem, sample_initialization, simulate
from jumpprocess.limit import compiled
compiled.COMPILED_FROM = 0
problem = make_problem(200, "gaussian", seed=1)
simulate(problem, sample_initialization(problem, 12, "balanced", seed=2))
misses = {name: sum(compiled._KERNELS[name].stats.cache_misses.values()) for name in ("race", "alignment")}
print(json.dumps(misses))
"""


def test_a_fresh_process_loads_the_kernels_from_the_disk_cache():
    runs = [subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, cwd=ROOT, timeout=600)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert json.loads(runs[-1].stdout.strip().splitlines()[-1]) == {"race": 0, "alignment": 0}


_FIRST_GD = """
import sys
from jumpprocess import make_problem, sample_initialization, simulate
problem = make_problem(1000, "sign-balanced", seed=0)
traj = simulate(problem, sample_initialization(problem, 40, "balanced", seed=1), step_size=0.5)
print(traj.num_jumps, "numba" in sys.modules)
"""


def test_first_gradient_descent_simulate_needs_no_numba_import():
    """The first GD simulate of a process at n = 1000, m = 40 settles in the numpy loop:
    it does not pay the numba import and kernel load (about a second)."""
    run = subprocess.run([sys.executable, "-c", _FIRST_GD], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    jumps, loaded = run.stdout.split()
    assert int(jumps) > 0 and loaded == "False"
