"""Tests of validation.training and validation.backend: the real batched network.

docs/math/model.rst, docs/math/reduction.rst.

Invariants: one step of the autograd network is the reduced dynamics of docs/math/reduction.rst with
relu'(0) = 0; a batch equals its runs trained alone; a frozen run equals the same run
stopped by its budget; n = 1 matches the closed-form logistic solution; the σ range and
other bad inputs are refused with errors naming the violated limit.
"""

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import validation.backend
import validation.comparison
import validation.data
import validation.observables
import validation.training
from jumpprocess import Initialization
from validation.backend import check_sigmas, check_step_size, resolve_device, smallest_sigma
from validation.data import max_cosine, nearly_orthogonal_inputs, orthogonal_inputs
from validation.training import lift_initialization, log_spaced_steps, train, train_initializations


def test_docstring_examples():
    for module in (validation.backend, validation.training, validation.data, validation.observables, validation.comparison):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


def test_torch_relu_derivative_at_zero_is_zero():
    """The convention relu'(0) = 0 of docs/math/model.rst is torch's."""
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    torch.relu(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3, dtype=torch.float64))


def test_one_step_is_the_reduced_dynamics_of_spec_2():
    """θ_1 = θ_0 − η∇L with dU_ji = (s_i²/n) a_j r_i 1[U_ji > 0], da_j = (1/n) Σ_i r_i relu(U_ji)."""
    s = np.array([1.5, 0.5, 2.0])
    y = np.array([1.0, -0.7, 0.4])
    n = 3
    X = orthogonal_inputs(s, d=5, seed=3)
    U0 = np.array([[0.8, -0.3, 0.0], [0.2, 0.6, 1.1]])  # U = 0 exactly: relu'(0) = 0, frozen
    a0 = np.array([0.9, -1.2])
    sigma, eta = 0.5, 0.1
    W0 = lift_initialization(Initialization(U0, a0), X)
    result = train(X, y, W0[None], a0[None], sigma, step_size=eta, max_steps=1, device="cpu")
    U, a = sigma * U0, sigma * a0
    r = y - a @ np.maximum(U, 0.0)
    U_next = U + eta * (s**2 / n) * a[:, None] * r[None, :] * (U > 0)
    a_next = a + eta * (np.maximum(U, 0.0) @ r) / n
    np.testing.assert_allclose(result.final_preactivations[0], U_next, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(result.final_output_weights[0], a_next, rtol=1e-13)
    assert result.final_preactivations[0, 0, 2] == 0.0
    assert result.losses[0, 0] == pytest.approx(np.sum(r**2) / (2 * n), rel=1e-14)
    assert result.stop_reasons == ("step budget",) and result.stop_steps.tolist() == [1]


def test_frozen_coordinates_stay_frozen_at_tiny_sigma():
    """Coordinate inputs keep U_ji <= 0 exactly frozen while other coordinates grow (docs/math/reduction.rst)."""
    s = np.ones(3)
    X = orthogonal_inputs(s, seed=0)
    U0 = np.array([[1.0, -0.5, 0.7]])
    a0 = np.array([np.sqrt(1.0 + 0.49)])
    W0 = lift_initialization(Initialization(U0, a0), X)
    result = train(X, [1.0, 1.0, 1.0], W0[None], a0[None], 1e-64, step_size=0.1, max_steps=6000, device="cpu")
    assert result.final_preactivations[0, 0, 1] == pytest.approx(-0.5e-64, rel=1e-12)
    assert result.final_output_weights[0, 0] > 0.5  # the neuron did grow to O(1)


def _random_batch(B, m, n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, m, d)) / np.sqrt(d), rng.standard_normal((B, m))


def test_batch_equals_runs_trained_alone():
    X = orthogonal_inputs(np.full(4, 2.0), d=6, seed=1)
    y = np.array([1.0, -0.5, 0.8, -1.2])
    W, a = _random_batch(3, 3, 4, 6, seed=2)
    sigmas = np.array([1e-2, 1e-6, 1e-30])
    batch = train(X, y, W, a, sigmas, step_size=0.05, max_steps=700, device="cpu")
    for b in range(3):
        alone = train(X, y, W[b:b + 1], a[b:b + 1], sigmas[b], step_size=0.05, max_steps=700, device="cpu")
        np.testing.assert_allclose(batch.final_preactivations[b], alone.final_preactivations[0], rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(batch.final_output_weights[b], alone.final_output_weights[0], rtol=1e-10, atol=1e-300)
        np.testing.assert_array_equal(batch.half_fit_steps[b], alone.half_fit_steps[0])


def test_a_stopped_run_is_frozen_at_its_stop():
    s = np.full(3, 1.7)
    X = orthogonal_inputs(s, seed=4)
    y = np.array([0.9, -0.6, 1.1])
    U = 0.5 * np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    a = np.array([1.0, -1.0]) * np.sqrt(0.5 / s[0] ** 2)
    W = lift_initialization(Initialization(U, a), X)
    tolerance = 0.5 * np.sum(y**2) / 6
    # Run 0 stops at half the initial loss; run 1, the same network, keeps training.
    result = train(X, y, [W, W], [a, a], 1e-3, step_size=0.1, max_steps=3000, loss_tolerance=[tolerance, 0.0], device="cpu")
    assert result.stop_reasons == ("converged", "step budget")
    k = int(result.stop_steps[0])
    assert 0 < k < 3000 and result.final_losses[0] <= tolerance < result.final_losses[0] * 2
    assert result.final_losses[1] < result.final_losses[0]  # run 1 went on
    again = train(X, y, W[None], a[None], 1e-3, step_size=0.1, max_steps=k, device="cpu")
    np.testing.assert_allclose(result.final_output_weights[0], again.final_output_weights[0], rtol=1e-12)
    np.testing.assert_allclose(result.final_preactivations[0], again.final_preactivations[0], rtol=1e-12, atol=1e-300)
    before = train(X, y, W[None], a[None], 1e-3, step_size=0.1, max_steps=k - 1, device="cpu")
    assert before.final_losses[0] > tolerance  # k is the first step at or below the tolerance


def test_half_fit_time_matches_the_logistic_solution():
    """n = m = 1, s = 1, balanced a = U: u = a² obeys u' = 2u(y − u) (docs/math/reduction.rst), so the
    half-fit time (u = y/2) is t = ln(y/u0 − 1) / (2y), u0 = σ² ā²; τ → 1/λ = 1/y (docs/math/race.rst)."""
    y, u_bar, sigma, eta = 2.0, 0.8, 1e-3, 1e-3
    X = np.ones((1, 1))
    result = train(X, [y], [[[u_bar]]], [[u_bar]], sigma, step_size=eta, max_steps=20000,
                   loss_tolerance=1e-12, device="cpu")
    u0 = (sigma * u_bar) ** 2
    exact = math.log(y / u0 - 1.0) / (2 * y)
    measured = result.half_fit_steps[0, 0] * eta
    assert measured == pytest.approx(exact, rel=2e-3)  # GD with ηy = 0.002: O(η) deviation
    assert result.half_fit_times[0, 0] == pytest.approx(exact / math.log(1 / sigma), rel=2e-3)
    assert result.stop_reasons == ("converged",)


def test_checkpoints_are_log_spaced_and_end_at_the_last_step():
    X = orthogonal_inputs(np.ones(2), seed=0)
    W, a = _random_batch(1, 2, 2, 2, seed=6)
    result = train(X, [1.0, -1.0], W, a, 0.01, step_size=0.1, max_steps=5000, checkpoints=30, device="cpu")
    steps = result.checkpoint_steps
    assert steps[0] == 0 and steps[-1] == result.steps_run == 5000
    assert np.all(np.diff(steps) > 0)
    ratios = steps[2:] / steps[1:-1]
    large = steps[1:-1] >= 10  # below 10, rounding to integers dominates
    assert np.all(np.abs(ratios[large] - 5000 ** (1 / 29)) < 0.1)  # geometric: 1.34 per checkpoint
    assert result.losses.shape == (len(steps), 1) and result.residuals.shape == (len(steps), 1, 2)
    assert result.neuron_norms.shape == (len(steps), 1, 2)
    np.testing.assert_allclose(result.rescaled_times[:, 0], steps * 0.1 / math.log(100.0))
    assert log_spaced_steps(1000, 4).tolist() == [0, 1, 10, 100, 1000]


def test_an_overflowing_run_is_reported_as_diverged_not_raised():
    """A non-finite loss freezes the run with status "diverged" while the others go on."""
    X = orthogonal_inputs(np.full(2, 1.0), seed=0)
    y = [1e160, -1.0]  # y² overflows float64: the loss is inf from step 0
    result = train(X, y, [[[1.0, 0.0]], [[1.0, 0.0]]], [[1.0], [1.0]], 0.1, step_size=0.1, max_steps=50, device="cpu")
    assert result.stop_reasons == ("diverged", "diverged")
    assert result.stop_steps.tolist() == [0, 0]
    assert "non-finite" in result.statuses[0]


def test_float32_training_runs_where_its_range_allows():
    X = orthogonal_inputs(np.ones(2), seed=0)
    W = lift_initialization(Initialization(np.eye(2), [1.0, -1.0]), X)
    result = train(X, [1.0, -1.0], W[None], [[1.0, -1.0]], 1e-4,
                   step_size=0.1, max_steps=2000, loss_tolerance=1e-6, dtype="float32", device="cpu")
    assert result.dtype == "float32" and result.stop_reasons == ("converged",)


@given(
    n=st.integers(1, 5),
    extra=st.integers(0, 4),
    m=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    nearly=st.booleans(),
)
def test_lift_reproduces_the_preactivations(n, extra, m, seed, nearly):
    rng = np.random.default_rng(seed)
    norms = rng.uniform(0.3, 3.0, n)
    X = nearly_orthogonal_inputs(norms, n + extra + 20, seed=seed) if nearly else orthogonal_inputs(norms, n + extra, seed=seed)
    U = rng.standard_normal((m, n))
    W = lift_initialization(Initialization(U, rng.standard_normal(m)), X)
    np.testing.assert_allclose(W @ X.T, U, atol=1e-10 * max(1.0, np.abs(U).max()))


def test_lift_uses_the_initialization_weights_and_checks_them():
    X = orthogonal_inputs(np.ones(2), d=3, seed=0)
    W = np.array([[0.2, -0.4, 0.9]])
    init = Initialization(W @ X.T, [1.0], input_weights=W)
    np.testing.assert_array_equal(lift_initialization(init, X), W)  # keeps the orthogonal part
    other = Initialization(W @ X.T + 0.5, [1.0], input_weights=W)
    with pytest.raises(ValueError, match="drawn against other inputs"):
        lift_initialization(other, X)
    with pytest.raises(ValueError, match="linearly independent"):
        lift_initialization(Initialization([[1.0, 1.0, 1.0]], [1.0]), np.ones((3, 2)))


def test_data_helpers():
    X = orthogonal_inputs([1.0, 2.0, 3.0], d=5, seed=2)
    assert max_cosine(X) == 0.0
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), [1.0, 2.0, 3.0])
    G = nearly_orthogonal_inputs([1.0, 2.0, 3.0], 2000, seed=2)
    np.testing.assert_allclose(np.linalg.norm(G, axis=1), [1.0, 2.0, 3.0])
    assert 0.0 < max_cosine(G) < 0.15
    with pytest.raises(ValueError, match="d >> n"):
        nearly_orthogonal_inputs([1.0, 1.0], 1)


# --- the σ range and bad inputs -------------------------------------------------------------


def test_sigma_limits_are_the_square_roots_of_tiny():
    assert smallest_sigma("float64") == pytest.approx(math.sqrt(np.finfo(np.float64).tiny))
    assert smallest_sigma("float32") == pytest.approx(math.sqrt(np.finfo(np.float32).tiny))
    assert check_sigmas([1e-64, 1e-150]).tolist() == [1e-64, 1e-150]


@pytest.mark.parametrize(
    "sigmas, dtype, message",
    [
        ([], "float64", "empty"),
        ([0.0], "float64", "outside"),
        ([-1e-3], "float64", "outside"),
        ([1.0], "float64", "outside"),
        ([2.0], "float64", "outside"),
        ([float("nan")], "float64", "finite"),
        ([1e-200], "float64", r"too small for float64.*1\.49e-154"),
        ([1e-20], "float32", r"too small for float32.*1\.08e-19.*use float64"),
    ],
)
def test_bad_sigmas_are_refused(sigmas, dtype, message):
    with pytest.raises(ValueError, match=message):
        check_sigmas(sigmas, dtype)


def test_training_refuses_underflow_before_running():
    X = orthogonal_inputs(np.ones(2), seed=0)
    with pytest.raises(ValueError, match="underflows"):
        train(X, [1.0, -1.0], [[[1.0, 0.0]]], [[1.0]], 1e-160, step_size=0.1, max_steps=10, device="cpu")
    with pytest.raises(ValueError, match="float32"):
        train(X, [1.0, -1.0], [[[1.0, 0.0]]], [[1.0]], 1e-25, step_size=0.1, max_steps=10, dtype="float32", device="cpu")


@pytest.mark.parametrize("step", [0.0, -0.1, float("inf"), None, "0.1"])
def test_bad_step_sizes_are_refused(step):
    with pytest.raises(ValueError, match="step"):
        check_step_size(step)


def test_devices():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_train_initializations_orders_runs_init_major():
    from jumpprocess import OrthogonalProblem, sample_initialization

    problem = OrthogonalProblem([1.0, -1.0, 0.5])
    inits = [sample_initialization(problem, 2, seed=k) for k in range(2)]
    X = orthogonal_inputs(problem.norms, seed=0)
    result = train_initializations(X, problem.labels, inits, [1e-2, 1e-4], step_size=0.1, max_steps=3, device="cpu")
    assert result.sigmas.tolist() == [1e-2, 1e-4, 1e-2, 1e-4]
    alone = train(X, problem.labels, lift_initialization(inits[1], X)[None], inits[1].output_weights[None], 1e-4,
                  step_size=0.1, max_steps=3, device="cpu")
    np.testing.assert_allclose(result.final_output_weights[3], alone.final_output_weights[0], rtol=1e-13)
    W1 = lift_initialization(inits[1], X)
    start = 1e-4 * np.sqrt(inits[1].output_weights ** 2 + np.sum(W1**2, axis=1))
    np.testing.assert_allclose(result.neuron_norms[0, 3], start, rtol=1e-14)  # θ(0) = σ θ̄
    with pytest.raises(ValueError, match="no initializations"):
        train_initializations(X, problem.labels, [], [1e-2], step_size=0.1, max_steps=3)


@pytest.mark.parametrize("name, value", [("max_steps", 2.5), ("max_steps", -1), ("checkpoints", 0),
                                         ("checkpoints", -1), ("checkpoints", 2.5)])
def test_train_refuses_fractional_or_negative_step_counts(name, value):
    from validation.training import train

    kwargs = dict(step_size=0.1, max_steps=5, device="cpu")
    kwargs[name] = value
    with pytest.raises(ValueError, match=name):
        train(np.eye(2), [1.0, -1.0], np.ones((1, 1, 2)), np.ones((1, 1)), 1e-2, **kwargs)
