"""simulate_many (jumpprocess.scale.batch) and its compiled race (jumpprocess.scale.kernels).

Invariants checked:
- trial by trial, the batch equals ``simulate`` on the trial's own initialization
  (weights sampling: ``sample_initialization(seed=seeds[t])``; pattern sampling:
  ``pattern_initialization(seeds[t])``), ties and ambiguity included;
- the compiled kernel equals the numpy reference path (``run_race`` per trial);
- the direct pattern law has the same distribution as sampling the weights (two-sample
  tests), and its probability of interpolation is the exact formula of docs/math/probability.rst;
- determinism from the seed, recorded per-trial seeds, and errors that name the assumption.
"""

import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from jumpprocess import OrthogonalProblem, make_problem, sample_initialization, simulate
from jumpprocess.scale.batch import (
    SUMMARY_FIELDS,
    _unpack,
    pattern_initialization,
    sample_pattern_masks,
    simulate_many,
    trial_initialization,
    trial_seeds,
)
from jumpprocess.limit.race import run_race

RTOL = 1e-12  # summation order of non-uniform weights is the only difference (~1e-15)
# Jump times also inherit, on both sides, the cancellation error of the incremental sums
# S_j ← S_j − Σ_F (y s)² (docs/math/race.rst): about eps · S_anchor / S_j(now), where both paths
# recompute a sum once it falls below 1e-3 of its anchor, so at most ~2e-13.
TIME_RTOL = 1e-12
NUMBA = importlib.util.find_spec("numba") is not None  # a declared test dependency
needs_numba = pytest.mark.skipif(not NUMBA, reason="numba not installed")


def assert_trial_matches(summary, t, trajectory):
    assert summary["num_jumps"][t] == trajectory.num_jumps
    assert summary["interpolates"][t] == trajectory.interpolates
    assert summary["uncovered"][t] == trajectory.uncovered.size
    assert summary["ambiguous"][t] == trajectory.ambiguous
    assert summary["function_determined"][t] == trajectory.function_determined
    assert summary["identical_ties"][t] == trajectory.identical_ties
    np.testing.assert_allclose(summary["squared_norm"][t], trajectory.squared_norm, rtol=RTOL, atol=0)
    np.testing.assert_allclose(summary["norm_ratio"][t], trajectory.norm_ratio, rtol=RTOL, atol=0)
    np.testing.assert_allclose(summary["final_time"][t], trajectory.final_time, rtol=TIME_RTOL, atol=0)
    if trajectory.num_jumps:
        np.testing.assert_allclose(summary["first_time"][t], trajectory.jump_times[0], rtol=TIME_RTOL, atol=0)
    else:
        assert np.isnan(summary["first_time"][t])


PROBLEMS = {
    "pm1-unit": lambda: make_problem(40, "sign-balanced", seed=3),
    "pm1-random-norms": lambda: make_problem(40, "sign-random", seed=4, random_norms=True),
    "gaussian": lambda: make_problem(40, "gaussian", seed=5),
    "with-zeros": lambda: OrthogonalProblem(np.where(np.arange(40) % 5 == 0, 0.0, make_problem(40, "gaussian", seed=6).labels)),
}


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("init,step_size", [("balanced", None), ("output-dominated", None), ("gaussian", None),
                                            ("balanced", 4.0), ("gaussian", 4.0)])
def test_weights_sampling_equals_simulate_trial_by_trial(problem_name, init, step_size):
    problem = PROBLEMS[problem_name]()
    summary = simulate_many(problem, 9, 40, init=init, seed=11, step_size=step_size, sampling="weights")
    assert summary.sampling == "weights"
    for t in range(len(summary)):
        theta = sample_initialization(problem, 9, init, seed=int(summary.seeds[t]))
        assert_trial_matches(summary, t, simulate(problem, theta, step_size, ties="index"))


def test_pm1_labels_exercise_ties_and_ambiguity():
    # The equality tests above are only meaningful for ties if ties occur: with ±1 labels
    # and unit norms the rates are sqrt(count)/n and ties are frequent (docs/math/ties.rst).
    summary = simulate_many(PROBLEMS["pm1-unit"](), 9, 40, seed=11, sampling="weights")
    assert summary["num_tie_groups"].sum() > 0
    assert summary["ambiguous"].any() and not summary["ambiguous"].all()
    assert not summary["function_determined"].all()
    np.testing.assert_array_equal(summary["ambiguous"], ~summary["function_determined"])
    assert summary["identical_ties"].any()


@pytest.mark.parametrize("problem_name", ["pm1-unit", "gaussian", "with-zeros"])
def test_pattern_sampling_equals_simulate_on_pattern_initialization(problem_name):
    problem = PROBLEMS[problem_name]()
    summary = simulate_many(problem, 70, 25, seed=2, sampling="pattern")  # m > 64: two words
    for t in range(len(summary)):
        trajectory = simulate(problem, trial_initialization(problem, summary, t), ties="index")
        assert_trial_matches(summary, t, trajectory)


@needs_numba
@pytest.mark.parametrize("sampling,init,step_size", [("pattern", "balanced", None), ("weights", "gaussian", None),
                                                     ("weights", "balanced", 0.7)])
def test_kernel_equals_numpy_reference(sampling, init, step_size):
    for problem in (PROBLEMS["pm1-unit"](), PROBLEMS["gaussian"]()):
        fast = simulate_many(problem, 12, 60, init=init, seed=8, step_size=step_size, sampling=sampling, backend="numba")
        slow = simulate_many(problem, 12, 60, init=init, seed=8, step_size=step_size, sampling=sampling, backend="numpy")
        for name in SUMMARY_FIELDS:
            rtol = TIME_RTOL if name.endswith("_time") else RTOL
            np.testing.assert_allclose(fast[name], slow[name], rtol=rtol, atol=0, equal_nan=True, err_msg=name)


@st.composite
def tie_prone_patterns(draw):
    """A random good-set pattern on a problem whose weights take few values (many ties)."""
    n = draw(st.integers(1, 30))
    m = draw(st.integers(0, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.choice([-2.0, -1.0, 0.0, 1.0, 1.0, 2.0], size=n)
    norms = rng.choice([1.0, 1.0, 2.0], size=n) if draw(st.booleans()) else np.ones(n)
    density = draw(st.sampled_from([0.1, 0.3, 0.6]))
    good = (rng.random((m, n)) < density) & (labels != 0)[None, :]
    if m >= 3 and draw(st.booleans()):
        good[2] = good[0]  # identical good sets: ties whose function is still determined
    return OrthogonalProblem(labels, norms), good, draw(st.sampled_from([None, 0.5, 30.0]))


@needs_numba
@given(tie_prone_patterns())
def test_kernel_race_equals_run_race_on_arbitrary_patterns(case):
    from jumpprocess.scale import kernels

    problem, good, step_size = case
    m, n = good.shape
    signal_sq = problem.signal**2
    ratio = problem.labels / problem.norms
    out = kernels.race_summaries(kernels.pack_sample_major(good)[None], m, signal_sq, ratio**2, step_size)[0]
    race = run_race(good, signal_sq, n, step_size)
    times = [e.time for e in race.events]
    assert out[0] == len(race.events)
    assert out[4] == sum(len(e.fitted) for e in race.events)
    assert bool(out[5]) == any(e.overlapping and e.identical for e in race.events)
    assert bool(out[7]) == any(e.overlapping and not e.identical for e in race.events)
    if times:
        np.testing.assert_allclose(out[[1, 2]], [times[0], times[-1]], rtol=TIME_RTOL)
    expected_norm = sum(2.0 * np.sqrt(np.sum(ratio[list(e.fitted)] ** 2)) for e in race.events)
    np.testing.assert_allclose(out[3], expected_norm, rtol=RTOL, atol=0)


@needs_numba
def test_pattern_masks_compiled_equal_numpy_and_match_the_initialization():
    from jumpprocess import align

    problem = make_problem(33, "sign-random", seed=1)
    seeds = trial_seeds(4, 6)
    for m in (0, 5, 64, 65, 130):
        fast = sample_pattern_masks(problem, m, seeds, compiled=True)
        slow = sample_pattern_masks(problem, m, seeds, compiled=False)
        assert np.array_equal(fast, slow)
        for t, seed in enumerate(seeds):
            expected = align(problem, pattern_initialization(problem, m, seed)).good_sets
            assert np.array_equal(_unpack(slow[t], m), expected)


def test_same_seed_same_summaries_and_recorded_seeds():
    problem = make_problem(50, "gaussian", seed=0)
    a = simulate_many(problem, 10, 30, seed=123)
    b = simulate_many(problem, 10, 30, seed=123)
    c = simulate_many(problem, 10, 30, seed=124)
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["squared_norm"], c["squared_norm"])
    assert np.array_equal(a.seeds, trial_seeds(123, 30))
    assert np.array_equal(trial_seeds(123, 10), trial_seeds(123, 30)[:10])
    # A trial can be re-run alone: the first 10 trials of a longer run are the same.
    d = simulate_many(problem, 10, 10, seed=123)
    np.testing.assert_array_equal(d["squared_norm"], a["squared_norm"][:10])


def test_pattern_law_matches_weight_sampling_in_distribution():
    # Two-sample tests between the direct law and real Gaussian weights (docs/math/alignment.rst, docs/math/probability.rst).
    # Fixed seeds make this deterministic; the thresholds are loose (p > 1e-3), and the
    # same tests do reject a genuinely different law (three more neurons) below.
    problem = make_problem(24, "gaussian", seed=9)
    trials = 2000
    pattern = simulate_many(problem, 6, trials, seed=1, sampling="pattern")
    weights = simulate_many(problem, 6, trials, seed=2, sampling="weights")
    wider = simulate_many(problem, 9, trials, seed=3, sampling="pattern")

    def jumps_pvalue(x, y):
        values = np.union1d(x["num_jumps"], y["num_jumps"])
        table = np.array([[np.sum(s["num_jumps"] == v) for v in values] for s in (x, y)])
        table = table[:, table.sum(axis=0) >= 10]
        return stats.chi2_contingency(table)[1]

    assert jumps_pvalue(pattern, weights) > 1e-3
    ratios = [s["norm_ratio"][s["interpolates"]] for s in (pattern, weights)]  # NaN where stalled
    assert stats.ks_2samp(*ratios).pvalue > 1e-3
    assert stats.ks_2samp(pattern["final_time"], weights["final_time"]).pvalue > 1e-3
    assert jumps_pvalue(pattern, wider) < 1e-6
    assert stats.ks_2samp(pattern["final_time"], wider["final_time"]).pvalue < 1e-4


@pytest.mark.parametrize("sampling,trials", [("pattern", 20000), ("weights", 3000)])
def test_interpolation_frequency_matches_exact_formula(sampling, trials):
    from theory.probability import interpolation_probability

    problem = make_problem(16, "sign-random", seed=2)
    n_pos, n_neg = int(np.sum(problem.labels > 0)), int(np.sum(problem.labels < 0))
    m = 8
    p = float(interpolation_probability(m, n_pos, n_neg))
    assert 0.05 < p < 0.95  # the test has power only away from 0 and 1
    frequency = simulate_many(problem, m, trials, seed=5, sampling=sampling)["interpolates"].mean()
    assert abs(frequency - p) < 4.5 * np.sqrt(p * (1 - p) / trials)


def test_keep_trajectories_are_the_engine_trajectories():
    problem = make_problem(30, "gaussian", seed=3)
    summary = simulate_many(problem, 6, 12, seed=4, keep_trajectories=True)
    assert len(summary.trajectories) == 12
    for t, trajectory in enumerate(summary.trajectories):
        assert_trial_matches(summary, t, trajectory)


def test_degenerate_sizes():
    problem = make_problem(5, "sign-balanced", seed=0)
    empty = simulate_many(problem, 0, 4)
    assert np.all(empty["num_jumps"] == 0) and not empty["interpolates"].any()
    assert np.all(empty["uncovered"] == 5) and np.all(np.isnan(empty["first_time"]))
    assert len(simulate_many(problem, 3, 0)) == 0
    zero = simulate_many(OrthogonalProblem(np.zeros(4)), 3, 5)
    assert zero["interpolates"].all() and np.all(zero["norm_ratio"] == 1.0)


def test_summary_is_indexable_and_exports_records():
    summary = simulate_many(make_problem(20, seed=0), 5, 7)
    assert set(summary.keys()) == set(SUMMARY_FIELDS)
    assert all(len(summary[name]) == 7 for name in SUMMARY_FIELDS)
    records = summary.records()
    assert len(records) == 7 and records[3]["num_jumps"] == summary["num_jumps"][3]
    with pytest.raises(KeyError, match="unknown summary field"):
        summary["nope"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(init="gaussian", sampling="pattern"), "not sign-stable"),
        (dict(step_size=0.5, sampling="pattern"), "gradient descent can flip"),
        (dict(sampling="exact"), "unknown sampling"),
        (dict(init="uniform"), "unknown init kind"),
        (dict(step_size=-1.0), "step_size"),
        (dict(backend="cuda"), "unknown backend"),
    ],
)
def test_invalid_arguments_name_the_assumption(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_many(make_problem(8, seed=0), 3, 2, **kwargs)


@pytest.mark.parametrize("m,trials", [(-1, 2), (2.5, 2), (3, -2), (True, 2)])
def test_invalid_counts(m, trials):
    with pytest.raises(ValueError, match="non-negative integer"):
        simulate_many(make_problem(8, seed=0), m, trials)


def test_pattern_trajectory_is_simulate_of_pattern_initialization():
    from jumpprocess.scale.batch import pattern_trajectory

    problem = make_problem(45, "sign-balanced", seed=7)
    for seed in trial_seeds(1, 5):
        fast = pattern_trajectory(problem, 70, seed)
        slow = simulate(problem, pattern_initialization(problem, 70, seed), ties="index")
        assert fast.events == slow.events
        assert np.array_equal(fast.signs, slow.signs) and np.array_equal(fast.good_sets, slow.good_sets)
        np.testing.assert_array_equal(fast.rates, slow.rates)


def test_norm_ratio_is_nan_exactly_for_trials_that_do_not_interpolate():
    # A mean over summary["norm_ratio"] must not mix in stalled trials, whose squared norm
    # is that of a network that does not interpolate (docs/math/implicit-bias.rst compares interpolators).
    problem = make_problem(16, "sign-balanced", seed=3)
    summary = simulate_many(problem, 10, 200, seed=2)
    stalled = ~summary["interpolates"]
    assert 0 < stalled.sum() < len(summary)  # both kinds occur at this width
    assert np.all(np.isnan(summary["norm_ratio"][stalled]))
    ok = summary["interpolates"]
    # independent computation: 2 Σ_k ||y_{F_k}|| / (2 (||y₊|| + ||y₋||)) from each trial's own simulate
    for t in np.flatnonzero(ok)[:10]:
        traj = simulate(problem, pattern_initialization(problem, 10, summary.seeds[t]), ties="index")
        y = problem.labels
        expected = sum(np.linalg.norm(y[f]) for f in traj.fitted) / (np.linalg.norm(y[y > 0]) + np.linalg.norm(y[y < 0]))
        assert summary["norm_ratio"][t] == pytest.approx(expected, rel=1e-12)
        assert traj.norm_ratio == pytest.approx(expected, rel=1e-12)
    for t in np.flatnonzero(stalled)[:5]:
        assert np.isnan(simulate(problem, pattern_initialization(problem, 10, summary.seeds[t]), ties="index").norm_ratio)
    assert np.isfinite(np.mean(summary["norm_ratio"][ok])) and np.isnan(summary["norm_ratio"].mean())


def test_first_trial_continues_the_seed_sequence_exactly():
    problem = make_problem(30, "gaussian", seed=2)
    whole = simulate_many(problem, 6, 12, seed=5, sampling="weights")
    tail = simulate_many(problem, 6, 8, seed=5, sampling="weights", first_trial=4)
    assert tail.first_trial == 4 and np.array_equal(tail.seeds, whole.seeds[4:])
    for name in SUMMARY_FIELDS:
        np.testing.assert_array_equal(tail[name], whole[name][4:])


@pytest.mark.parametrize("d", [5, 2.5, -1, True])
def test_simulate_many_refuses_a_dimension_below_n_or_not_an_integer(d):
    problem = make_problem(10)
    for sampling in ("weights", "pattern"):
        with pytest.raises(ValueError, match=r"d \(the input dimension\) must be an integer >= n = 10"):
            simulate_many(problem, 4, 3, d=d, sampling=sampling)
