"""Tests of validation.compare (module validation.comparison): finite-σ training converges to the limit.

docs/math/convergence.rst.

Instances are chosen by a rule, applied here from the engine alone (no finite-σ run is used
to pick them): Gaussian labels, norms √n (so rates are O(1) and runs short), balanced
initializations whose limit (for the step size under test) has no exact tie, consecutive
jump times differing by at least 10% of the later one, its last jump by τ = 8, and no
near-tie at σ = 1e-64 (``near_ties`` with the default c = 3). The first problem seed and the
first initialization seeds ``[seed, k]`` satisfying it are used.
"""

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")

from jumpprocess import Initialization, OrthogonalProblem, sample_initialization, simulate
from validation import VERDICTS, compare, fit_error, near_ties
from validation.data import nearly_orthogonal_inputs

SIGMAS = (1e-2, 1e-8, 1e-32, 1e-64)


def _well_separated(problem, init, step_size) -> bool:
    limit = simulate(problem, init, step_size)
    if limit.ambiguous or limit.identical_ties or limit.num_jumps == 0 or limit.final_time > 8.0:
        return False
    times = limit.jump_times
    if np.any(np.diff(times) < 0.1 * times[1:]):
        return False
    return not near_ties(limit, math.log(1e64))


def _instance(n, m, batch, step_size):
    for seed in range(100):
        rng = np.random.default_rng(seed)
        problem = OrthogonalProblem(rng.standard_normal(n), np.full(n, math.sqrt(n)))
        inits = []
        for k in range(60):
            init = sample_initialization(problem, m, "balanced", seed=[seed, k])
            if _well_separated(problem, init, step_size):
                inits.append(init)
                if len(inits) == batch:
                    return problem, inits
    raise AssertionError("no instance satisfies the selection rule")  # pragma: no cover


def _assert_converges_to_the_race(report):
    assert report.verdict == "converging", report.table()
    for item in report.initializations:
        errors = np.array([row.jump_time_error for row in item.rows])
        assert np.all(np.isfinite(errors))
        assert np.all(np.diff(errors) < 0), errors  # decreasing as σ decreases
        assert errors[-1] < errors[0] / 3
        last = item.rows[-1]
        assert last.fitted_set_errors == 0 and last.order_errors == 0
        assert last.stop_reason == "converged"
        assert last.squared_norm_error < 1e-3
        np.testing.assert_array_equal(last.empirical_order, item.trajectory.neurons)
        # error = O(1/ln(1/σ)): the extrapolated σ → 0 error is small next to the largest
        # error (wide tolerance: the max over jumps may switch jumps between σ).
        assert abs(item.fit.intercept) < 0.1 * errors[0] + 0.02


@pytest.fixture(scope="module")
def small_step_report():
    problem, inits = _instance(8, 6, 4, 0.05)
    return compare(problem, inits, SIGMAS, step_size=0.05, device="cpu")


@pytest.fixture(scope="module")
def large_step_report():
    problem, inits = _instance(8, 6, 4, 0.3)
    return compare(problem, inits, SIGMAS, step_size=0.3, device="cpu")


def test_gradient_flow_like_steps_converge_to_the_limit(small_step_report):
    _assert_converges_to_the_race(small_step_report)
    for item in small_step_report.initializations:
        assert item.rate_distortion < 0.05


def test_a_large_step_converges_to_the_gradient_descent_race_not_to_flow(large_step_report):
    _assert_converges_to_the_race(large_step_report)
    for item in large_step_report.initializations:
        assert item.rate_distortion > 0.05  # ln(1+ηλ)/η differs from λ by more than 5%
    # Against the gradient-flow race the error stays O(1): its fit extrapolates to a
    # clearly nonzero σ → 0 error for at least one initialization, and at σ = 1e-64 the
    # flow error exceeds the race error for every initialization with > 1 jump.
    flow_intercepts = [item.flow_fit.intercept for item in large_step_report.initializations]
    assert max(flow_intercepts) > 0.05
    for item in large_step_report.initializations:
        if item.trajectory.num_jumps > 1:
            assert item.rows[-1].flow_jump_time_error > item.rows[-1].jump_time_error


def test_report_serializes_to_strict_json(small_step_report):
    data = json.loads(small_step_report.to_json())
    assert data["verdict"] in VERDICTS and data["verdict"] == small_step_report.verdict
    assert data["sigmas"] == sorted(SIGMAS, reverse=True)
    assert len(data["initializations"]) == 4
    rows = data["initializations"][0]["rows"]
    assert [row["sigma"] for row in rows] == data["sigmas"]
    assert data["parameters"]["versions"]["torch"]
    assert len(data["curves"]["losses"]) == 4 * len(SIGMAS)
    table = small_step_report.table()
    assert "verdict: converging" in table and "jump err" in table


def _near_tie_problem(scale_a):
    """Two positive neurons racing for sample 0: A on {0, 1} (rate ∝ √2), B on {0, 2}
    (rate ∝ √(1 + 0.97²), 1.5% slower). A wins the limit; ``scale_a`` shrinks A's
    prefactor, delaying it by ln(1/scale_a) / (λ ln(1/σ)) at finite σ."""
    s = np.full(3, math.sqrt(3.0))
    problem = OrthogonalProblem([1.0, 1.0, 0.97], s)
    U = np.array([scale_a * np.array([1.0, 1.0, -1.0]), [1.0, -1.0, 1.0]])
    a = np.sqrt(np.sum((np.maximum(U, 0) / s) ** 2 + (np.minimum(U, 0) / s) ** 2, axis=1))
    return problem, Initialization(U, a)


def test_a_near_tie_that_finite_sigma_resolves_differently_is_reported_as_such():
    problem, init = _near_tie_problem(0.01)
    limit = simulate(problem, init, 0.05)
    assert limit.neurons.tolist() == [0, 1] and not limit.ambiguous
    ties = near_ties(limit, math.log(1e64))
    assert ties and ties[0].overlapping and {ties[0].neuron, ties[0].rival} == {0, 1}
    report = compare(problem, init, (1e-2, 1e-16, 1e-64), step_size=0.05, device="cpu")
    assert report.verdict == "near-tie", report.table()
    assert report.initializations[0].rows[-1].fitted_set_errors > 0  # B fitted sample 0 first
    assert "near-tie" in report.reason


def test_a_near_tie_resolved_as_in_the_limit_is_converging():
    problem, init = _near_tie_problem(1.0)
    report = compare(problem, init, (1e-2, 1e-16, 1e-64), step_size=0.05, device="cpu")
    assert report.initializations[0].near_ties  # present at σ = 1e-64 ...
    assert report.verdict == "converging", report.table()  # ... but resolved as in the limit


def test_non_orthogonal_data_that_revives_a_dead_coordinate_is_a_mismatch():
    """cos(x_0, x_1) = 0.5: neuron 0 grows along x_0 and so along x_1, where it was dead
    in the orthogonal limit; it ends up fitting sample 1 too (no tie involved)."""
    s = math.sqrt(2.0)
    X = s * np.array([[1.0, 0.0], [0.5, math.sqrt(0.75)]])
    problem = OrthogonalProblem([1.0, 1.0], [s, s])
    W = np.array([[0.6, -0.9]])
    init = Initialization(W @ X.T, [np.linalg.norm(W)], input_weights=W)
    assert init.preactivations[0, 1] < 0
    report = compare(problem, init, (1e-2, 1e-8, 1e-32), step_size=0.05, inputs=X, device="cpu")
    assert report.mode == "nearly-orthogonal" and report.max_cosine == pytest.approx(0.5)
    assert report.verdict == "mismatch", report.table()
    assert report.initializations[0].rows[-1].fitted_set_errors == 1
    assert "extrapolated" in report.reason


def test_nearly_orthogonal_mode_measures_the_deviation():
    n = 6
    rng = np.random.default_rng(3)
    norms = np.full(n, math.sqrt(n))
    problem = OrthogonalProblem(rng.standard_normal(n), norms)
    X = nearly_orthogonal_inputs(norms, 600, seed=3)
    init = sample_initialization(problem, 4, "balanced", seed=3, inputs=X, atol=1.0)  # not orthogonal: opt in
    report = compare(problem, init, (1e-2, 1e-4, 1e-8), step_size=0.05, inputs=X, device="cpu")
    assert report.mode == "nearly-orthogonal" and 0 < report.max_cosine < 0.3
    assert report.verdict in VERDICTS
    item = report.initializations[0]
    assert [row.below_orthogonality for row in item.rows] == [s <= report.max_cosine for s in (1e-2, 1e-4, 1e-8)]
    assert all(row.stop_reason in ("converged", "step budget") for row in item.rows)
    for row in item.rows:  # the deviation is measured at every σ (inf: a limit jump never happened)
        assert not math.isnan(row.jump_time_error) and row.fitted_set_errors >= 0
    assert "extrapolated" in report.reason
    data = json.loads(report.to_json(curves=False))
    assert data["mode"] == "nearly-orthogonal" and data["max_cosine"] == report.max_cosine


def test_fit_recovers_slope_and_intercept():
    sigmas = np.array([1e-2, 1e-4, 1e-16, 1e-64])
    fit = fit_error(sigmas, 3.0 / np.log(1 / sigmas) - 0.02)
    assert fit.slope == pytest.approx(3.0) and fit.intercept == pytest.approx(-0.02, abs=1e-12)
    assert fit.rms < 1e-12
    assert math.isnan(fit_error([1e-2], [0.1]).slope)


# --- bad input ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    problem = OrthogonalProblem([1.0, -1.0])
    return problem, sample_initialization(problem, 2, seed=0)


@pytest.mark.parametrize(
    "sigmas, options, message",
    [
        ([], {}, "empty"),
        ([0.0], {}, "outside"),
        ([1.0], {}, "outside"),
        ([1e-200], {}, r"too small for float64.*1\.49e-154"),
        ([1e-20], {"dtype": "float32"}, r"too small for float32"),
        ([1e-2], {"step_size": 0.0}, "step"),
        ([1e-2], {"step_size": -1.0}, "step"),
        ([1e-2], {"device": "tpu"}, "unknown device"),
        ([1e-2], {"inputs": np.eye(2) * 3.0}, "row norms"),
        ([1e-2], {"inputs": np.eye(3)}, "shape"),
    ],
)
def test_bad_input_is_refused(tiny, sigmas, options, message):
    problem, init = tiny
    options = {"step_size": 0.1, "device": "cpu", **options}
    with pytest.raises(ValueError, match=message):
        compare(problem, init, sigmas, **options)


def test_cuda_without_cuda_is_refused(tiny):
    import torch

    problem, init = tiny
    if torch.cuda.is_available():
        assert compare(problem, init, [1e-2], step_size=0.1, device="cuda").training.device == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            compare(problem, init, [1e-2], step_size=0.1, device="cuda")


def test_an_initialization_of_the_wrong_size_is_refused(tiny):
    problem, _ = tiny
    with pytest.raises(ValueError, match="n = 3"):
        compare(problem, Initialization(np.ones((1, 3)), [1.0]), [1e-2], step_size=0.1, device="cpu")


def test_jumps_beyond_the_step_budget_are_left_out_and_reported():
    problem, inits = _instance(8, 6, 4, 0.05)
    init = next(item for item in inits if simulate(problem, item, 0.05).num_jumps >= 2)
    times = simulate(problem, init, 0.05).jump_times
    sigmas = (1e-4, 1e-16)
    # Stop the smallest σ halfway between the last two jumps (in rescaled time).
    steps = math.ceil(0.5 * (times[-2] + times[-1]) * math.log(1e16) / 0.05)
    report = compare(problem, init, sigmas, step_size=0.05, max_steps=steps, device="cpu")
    last = report.initializations[0].rows[-1]
    assert last.stop_reason == "step budget" and last.unreached_jumps == 1
    assert last.fitted_set_errors == 0  # the samples of the unreached jump are not compared
    assert math.isfinite(last.jump_time_error) and math.isnan(last.jump_time_errors[-1])
    assert "beyond the time reached" in report.reason


def test_a_benign_exact_tie_is_compared_up_to_relabeling():
    """Neurons 0 and 1 have the same good set {1, 4}: same rate, same start, an exact
    overlapping tie (so even Gaussian labels give exact ties, docs/math/ties.rst); either neuron fits
    the same set, so the fitted sets are determined and compared up to relabeling."""
    from validation.comparison import benign_ties

    labels = np.random.default_rng(0).standard_normal(6)
    problem = OrthogonalProblem(labels, np.full(6, math.sqrt(6)))
    init = sample_initialization(problem, 4, "balanced", seed=1)
    limit = simulate(problem, init, 0.05)
    assert limit.identical_ties and not limit.ambiguous and benign_ties(limit)
    assert np.array_equal(limit.good_sets[0], limit.good_sets[1])
    report = compare(problem, init, (1e-2, 1e-16, 1e-64), step_size=0.05, device="cpu")
    assert report.verdict == "converging", report.table()
    assert report.initializations[0].rows[-1].partition_errors == 0
    assert "benign" in report.reason


def _small():
    from jumpprocess import Initialization

    problem = OrthogonalProblem([1.0, -0.6], [1.5, 1.5])
    return problem, Initialization([[0.7, -0.3], [-0.2, 0.5]], [0.8, -0.6])


def test_nothing_compared_is_inconclusive_not_converging():
    problem, init = _small()
    report = compare(problem, init, (1e-2, 1e-8), step_size=0.1, device="cpu", max_steps=1)
    rows = report.initializations[0].rows
    assert all(row.unreached_jumps == report.initializations[0].trajectory.num_jumps for row in rows)
    assert report.verdict == "inconclusive" and "inconclusive" in VERDICTS, report.table()
    assert "not compared" in report.reason
    empty = sample_initialization(problem, 0, seed=0)  # m = 0: the limit has no jump at all
    report = compare(problem, empty, (1e-2, 1e-8), step_size=0.1, device="cpu")
    assert report.verdict == "inconclusive" and "no jump" in report.reason


@pytest.mark.parametrize("name, value, message", [
    ("max_steps", 0, "max_steps"), ("max_steps", 2.5, "max_steps"), ("max_steps", True, "max_steps"),
    ("checkpoints", 0, "checkpoints"), ("checkpoints", -1, "checkpoints"), ("checkpoints", 2.5, "checkpoints"),
    ("near_tie_constant", -1.0, "near_tie_constant"), ("near_tie_constant", float("nan"), "near_tie_constant"),
    ("near_tie_constant", float("inf"), "near_tie_constant"),
])
def test_compare_refuses_nonsense_settings_before_training(name, value, message):
    problem, init = _small()
    with pytest.raises(ValueError, match=message):
        compare(problem, init, (1e-2,), step_size=0.1, device="cpu", **{name: value})


@pytest.mark.parametrize("problem", [[1.0, -0.6], {"labels": [1.0, -0.6]}, None])
def test_compare_needs_an_orthogonal_problem(problem):
    _, init = _small()
    with pytest.raises(ValueError, match="problem must be a jumpprocess.OrthogonalProblem"):
        compare(problem, init, (1e-2,), step_size=0.1, device="cpu")
    with pytest.raises(ValueError, match="Initialization"):
        compare(_small()[0], [[0.7, -0.3]], (1e-2,), step_size=0.1, device="cpu")
