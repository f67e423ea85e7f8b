"""Self-checks of the float64 reference oracle (jumpprocess/finite/reference.py).

The oracle is what the engine is judged against, so it is checked here against things
that do not depend on the limit process: closed forms of the one-neuron dynamics,
finite differences, the conservation laws and reductions of docs/math/reduction.rst, and its own
batched-versus-looped consistency.
"""

import numpy as np
import pytest

from jumpprocess.setting.initialization import Initialization, sample_initialization
from jumpprocess.setting.problem import OrthogonalProblem, random_orthogonal_inputs
from jumpprocess.finite.reference import (
    coordinate_inputs,
    gradient_descent,
    gradient_flow,
    initial_parameters,
    loss_and_gradient,
    network_output,
)


def _one_neuron_problem(label, norm, d=3, seed=0):
    X = random_orthogonal_inputs(1, d, np.random.default_rng(seed), norms=[norm])
    return OrthogonalProblem.from_inputs(X, [label])


def _random_problem(n, d, seed):
    rng = np.random.default_rng(seed)
    X = random_orthogonal_inputs(n, d, rng, norms=rng.uniform(0.5, 2.0, size=n))
    return OrthogonalProblem.from_inputs(X, rng.standard_normal(n))


# --- one neuron, one sample: closed forms -------------------------------------------------
#
# With a balanced start a = z := u/s (u = <w, x>), both gradient flow and gradient descent keep
# a = z, and the network output p = f(x) = s a^2 obeys (docs/math/reduction.rst with n = 1)
#     flow:     dp/dt = 2 s p (y - p)                    (logistic)
#     descent:  a <- a + η s a (y - s a^2)
# The logistic solution from p0 = s σ^2 c^2 reaches p = y/2 at t* = ln(y/p0 - 1) / (2 s y),
# and its rescaled time tends to 1/λ with λ = |y s| / n (docs/math/race.rst).


@pytest.mark.parametrize("label, norm", [(1.0, 1.0), (0.7, 2.0), (2.5, 0.6)])
def test_one_neuron_flow_matches_logistic_closed_form(label, norm):
    problem = _one_neuron_problem(label, norm)
    c, sigma, h = 0.8, 1e-30, 0.02 / (label * norm)
    init = Initialization([[c * norm]], [c])
    (run,) = gradient_flow(problem, init, sigma, h)
    assert run.converged and run.fitted_by.tolist() == [0]
    p0 = norm * (sigma * c) ** 2
    t_star = np.log(label / p0 - 1.0) / (2.0 * norm * label)
    t_half = run.half_fit_steps[0] * h
    # the first grid time at or after t*, up to the (tiny) RK4 error
    assert t_star - 1e-6 * t_star <= t_half < t_star + h + 1e-6 * t_star
    # and the rescaled time tends to 1/λ; here the gap is exactly ln(c^2 s)/(s y ln(1/σ)) + O(σ²)
    lam = label * norm
    assert abs(run.half_fit_times[0] - 1.0 / lam) <= abs(np.log(c * c * norm)) / (lam * np.log(1 / sigma)) + h


@pytest.mark.parametrize("eta", [0.1, 0.5, 2.0])
def test_one_neuron_descent_matches_scalar_recursion_and_limit(eta):
    label, norm, c = 0.9, 0.5, 1.3
    problem = _one_neuron_problem(label, norm, d=4, seed=3)
    init = Initialization([[c * norm]], [c])
    sigmas = [1e-8, 1e-32, 1e-128]
    runs = gradient_descent(problem, init, sigmas, eta)
    lam = label * norm
    limit = eta / np.log1p(eta * lam)            # 1 / (GD rate ln(1 + ηλ)/η), docs/math/race.rst
    errors = []
    for sigma, run in zip(sigmas, runs):
        # independent scalar recursion of the balanced one-neuron descent
        a, k = sigma * c, 0
        while abs(label - norm * a * a) > label / 2:
            a = a + eta * norm * a * (label - norm * a * a)
            k += 1
        assert run.half_fit_steps[0] == k
        assert run.converged and abs(run.residuals[0]) <= 1e-3 * label
        errors.append(abs(run.half_fit_times[0] - limit))
    # O(1/ln(1/σ)) convergence: the error shrinks at least like the ln ratio (16 between 1e-8 and 1e-128)
    # (the step grid adds up to η/ln(1/σ) in τ, hence 4 rather than 16)
    assert errors[2] < errors[0] / 4
    assert errors[2] < 2.0 / (lam * np.log(1e128))


# --- the gradient --------------------------------------------------------------------------


def test_gradient_equals_central_finite_differences():
    rng = np.random.default_rng(7)
    n, m, d = 4, 3, 6
    problem = _random_problem(n, d, seed=11)
    X, y = problem.inputs, problem.labels
    a = rng.standard_normal(m)
    W = rng.standard_normal((m, d))
    U = W @ X.T
    assert np.min(np.abs(U)) > 1e-3  # away from the kinks (a step h moves U by <= 2h), so FD is O(h^2)
    loss, ga, gW, r = loss_and_gradient(a, W, X, y)
    assert np.isclose(loss, np.sum((y - network_output(a, W, X)) ** 2) / (2 * n), rtol=1e-14)
    h = 1e-6
    numeric_a = np.array([
        (loss_and_gradient(a + h * e, W, X, y)[0] - loss_and_gradient(a - h * e, W, X, y)[0]) / (2 * h)
        for e in np.eye(m)
    ])
    numeric_W = np.zeros((m, d))
    for j in range(m):
        for k in range(d):
            E = np.zeros((m, d))
            E[j, k] = h
            numeric_W[j, k] = (loss_and_gradient(a, W + E, X, y)[0] - loss_and_gradient(a, W - E, X, y)[0]) / (2 * h)
    np.testing.assert_allclose(ga, numeric_a, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gW, numeric_W, rtol=1e-6, atol=1e-8)


def test_relu_derivative_at_zero_is_zero():
    # w ⟂ x_i: U = 0 exactly, so the sample contributes nothing to either gradient (relu'(0) = 0)
    X = np.eye(2, 3)
    y = np.array([1.0, -2.0])
    a = np.array([1.5, -0.5])
    W = np.array([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])  # neuron 0: U = (0, 0); neuron 1: U = (0, 2)
    _, ga, gW, r = loss_and_gradient(a, W, X, y)
    assert ga[0] == 0.0 and np.all(gW[0] == 0.0)
    assert gW[1, 0] == 0.0                  # the x_0 direction is inactive for neuron 1
    assert gW[1, 1] == -(r[1] * a[1]) / 2   # the active one is -(1/n) r a x
    # and training from an exactly-inactive neuron leaves it exactly where it was
    problem = OrthogonalProblem.from_inputs(X, y)
    init = Initialization([[0.0, 0.0]], [1.0], input_weights=[[0.0, 0.0, 1.0]])
    (run,) = gradient_descent(problem, init, 1e-3, 0.5, max_steps=50)
    assert not run.converged and "budget" in run.status
    np.testing.assert_array_equal(run.input_weights, [[0.0, 0.0, 1e-3]])
    assert run.output_weights[0] == 1e-3
    assert run.fitted_by.tolist() == [-1, -1]


def test_real_gradient_reduces_to_the_m_by_n_system():
    # dU_ji/dt = (s_i^2/n) a_j r_i 1[U_ji > 0], da_j/dt = (1/n) Σ_i r_i relu(U_ji)
    rng = np.random.default_rng(5)
    n, m, d = 5, 4, 8
    problem = _random_problem(n, d, seed=2)
    X, y, s = problem.inputs, problem.labels, problem.norms
    a = rng.standard_normal(m)
    W = rng.standard_normal((m, d))
    U = W @ X.T
    _, ga, gW, r = loss_and_gradient(a, W, X, y)
    np.testing.assert_allclose(-gW @ X.T, (s**2 / n) * a[:, None] * r[None, :] * (U > 0), atol=1e-13)
    np.testing.assert_allclose(-ga, (np.maximum(U, 0) @ r) / n, atol=1e-13)


# --- the trajectories ----------------------------------------------------------------------


def test_flow_conserves_balance_and_never_moves_the_orthogonal_part():
    # docs/math/reduction.rst: a_j^2 - ||w_j||^2 is conserved by the flow, and w_j's part orthogonal to span(x) never moves
    problem = _random_problem(4, 7, seed=4)
    init = sample_initialization(problem, 10, "gaussian", seed=9)
    sigma = 1e-4
    (run,) = gradient_flow(problem, init, sigma, 0.05, max_steps=20_000)
    assert run.converged
    a0, W0 = initial_parameters(problem, init)
    a0, W0 = sigma * a0, sigma * W0
    balance0 = a0**2 - np.sum(W0**2, axis=1)
    balance = run.output_weights**2 - np.sum(run.input_weights**2, axis=1)
    assert np.max(np.abs(run.squared_norms)) > 0.1  # something actually grew to O(1)
    np.testing.assert_allclose(balance, balance0, atol=1e-9)
    Q, _ = np.linalg.qr(problem.inputs.T)           # orthonormal basis of span(x)
    orthogonal = lambda W: W - (W @ Q) @ Q.T
    np.testing.assert_allclose(orthogonal(run.input_weights), orthogonal(W0), atol=1e-13)


def test_stopping_rule_targets_and_budget():
    problem = _random_problem(5, 6, seed=1)
    init = sample_initialization(problem, 4, "balanced", seed=3)
    # 4 neurons do not cover these 5 samples: with the default targets (every y_i != 0) the budget runs out
    (run,) = gradient_descent(problem, init, 1e-6, 0.5, max_steps=5_000)
    positive = run.half_fitted
    assert not run.converged and "budget" in run.status and run.steps == 5_000
    assert 0 < positive.sum() < 5
    # 10 neurons do: every target within 1e-3 relative
    (wide,) = gradient_descent(problem, sample_initialization(problem, 10, "balanced", seed=3), 1e-6, 0.5,
                               max_steps=5_000)
    assert wide.converged and "converged" in wide.status and np.all(wide.half_fitted)
    assert np.all(np.abs(wide.residuals) <= 1e-3 * np.abs(problem.labels))
    # with explicit targets = the half-fitted samples, the run stops with those converged
    (targeted,) = gradient_descent(problem, init, 1e-6, 0.5, targets=positive, tolerance=1e-4, max_steps=5_000)
    assert targeted.converged
    assert np.all(np.abs(targeted.residuals[positive]) <= 1e-4 * np.abs(problem.labels[positive]))
    # a later minimum time is honoured
    (late,) = gradient_descent(problem, init, 1e-6, 0.5, targets=positive, min_rescaled_time=targeted.final_time + 1,
                               max_steps=5_000)
    assert late.final_time >= targeted.final_time + 1 and late.converged
    # a budget too small ends unconverged, saying so
    (short,) = gradient_descent(problem, init, 1e-6, 0.5, max_steps=10)
    assert short.steps == 10 and not short.converged and "budget" in short.status


def test_batched_runs_equal_looped_runs():
    problems = [_random_problem(4, 5, seed=s) for s in (0, 1, 2)]
    inits = [sample_initialization(p, 8, kind, seed=s) for s, (p, kind) in
             enumerate(zip(problems, ["balanced", "output-dominated", "gaussian"]))]
    sigmas = [1e-5, 1e-20, 1e-12]
    batched = gradient_descent(problems, inits, sigmas, 0.5, max_steps=5_000)
    for p, i, s, run in zip(problems, inits, sigmas, batched):
        (alone,) = gradient_descent(p, i, s, 0.5, max_steps=5_000)
        assert alone.converged
        assert alone.steps == run.steps and alone.status == run.status
        np.testing.assert_array_equal(alone.half_fit_steps, run.half_fit_steps)
        np.testing.assert_array_equal(alone.fitted_by, run.fitted_by)
        np.testing.assert_allclose(alone.output_weights, run.output_weights, rtol=1e-12, atol=1e-300)


def test_divergence_is_reported_not_silent():
    # a label so large that the loss overflows float64 at once: the run stops and says so
    problem = _one_neuron_problem(1e200, 1.0)
    (run,) = gradient_descent(problem, Initialization([[1.0]], [1.0]), 1e-3, 1.0, max_steps=1_000)
    assert run.steps == 0 and not run.converged and "diverged" in run.status


def test_refuses_sigma_that_float64_cannot_hold():
    problem = _one_neuron_problem(1.0, 1.0)
    init = Initialization([[1.0]], [1.0])
    with pytest.raises(ValueError, match="smallest normal"):
        gradient_descent(problem, init, 1e-160, 0.5)       # σ² = 1e-320 is subnormal
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        gradient_flow(problem, init, 1.5, 0.5)
    (run,) = gradient_descent(problem, init, 1e-150, 0.5)  # σ² = 1e-300 is still normal
    assert run.converged


def test_refuses_missing_or_inconsistent_inputs():
    init = Initialization([[1.0, 0.5]], [1.0])
    with pytest.raises(ValueError, match="needs the inputs X"):
        gradient_descent(OrthogonalProblem([1.0, -1.0]), init, 1e-3, 0.5)
    problem = OrthogonalProblem.from_inputs(np.eye(2), [1.0, -1.0])
    with pytest.raises(ValueError, match="disagrees with init.preactivations"):
        initial_parameters(problem, Initialization([[1.0, 0.5]], [1.0], input_weights=[[0.5, 1.0]]))
    with pytest.raises(ValueError, match="not orthogonal"):
        gradient_descent(OrthogonalProblem([1.0, -1.0], inputs=[[1.0, 0.0], [1.0, 1.0]], norms=[1.0, np.sqrt(2)]),
                         init, 1e-3, 0.5)
    a, W = initial_parameters(problem, init)          # W̄ from Ū: <w̄, x_i> = Ū_i
    np.testing.assert_allclose(W @ problem.inputs.T, [[1.0, 0.5]])


def test_coordinate_inputs_keep_frozen_coordinates_exactly_frozen_at_tiny_sigma():
    # docs/math/reduction.rst: U_jk <= 0 never moves. In float64 that holds exactly only when <x_i, x_k> = 0 exactly
    # and no rounding mixes samples: coordinate inputs. A Haar-random frame (orthogonal to ~1e-16)
    # leaks about 1e-16·|θ_j| into frozen coordinates, which at σ = 1e-128 swamps σ·Ū_jk.
    rng = np.random.default_rng(4)
    n, d, m, sigma = 5, 7, 6, 1e-128
    y = rng.standard_normal(n)
    s = rng.uniform(0.5, 2.0, n)
    X = coordinate_inputs(s, d, rng=1)
    assert np.all((X @ X.T)[~np.eye(n, dtype=bool)] == 0.0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), s, rtol=1e-15)
    leaked = {}
    for name, inputs in [("coordinate", X), ("haar", random_orthogonal_inputs(n, d, np.random.default_rng(1), norms=s))]:
        problem = OrthogonalProblem.from_inputs(inputs, y)
        init = sample_initialization(problem, m, "balanced", seed=3)
        (run,) = gradient_descent(problem, init, sigma, 0.5, max_steps=20_000)
        assert run.converged and np.max(run.squared_norms) > 0.1
        _, W0 = initial_parameters(problem, init)
        start = (sigma * W0) @ inputs.T
        frozen = init.preactivations <= 0
        assert frozen.sum() >= 5
        leaked[name] = np.abs(run.input_weights @ inputs.T - start)[frozen] / np.abs(start[frozen])
    assert np.all(leaked["coordinate"] == 0.0)
    assert np.max(leaked["haar"]) > 1.0   # the leak is not a rounding-level effect: it flips coordinates


@pytest.mark.parametrize("eta, stable", [(0.9, True), (0.99, True), (1.2, False), (1.5, False)])
def test_descent_settles_only_where_the_interpolator_is_stable(eta, stable):
    # One neuron, y = s = n = 1: the interpolator a = u = 1 has tangent kernel K = (y²/a² + a² s²)/n = 2
    # (docs/math/saddles.rst), so gradient descent can settle there only if η K < 2, i.e. η < 1. Beyond, the loss
    # oscillates forever and may cross the tolerance by chance: `patience` keeps that from counting.
    problem = OrthogonalProblem.from_inputs([[1.0]], [1.0])
    (run,) = gradient_descent(problem, Initialization([[1.0]], [1.0]), 1e-32, eta, max_steps=5_000)
    assert run.half_fitted[0]                      # the jump itself happens either way
    assert run.converged is stable
    if not stable:
        assert run.steps == 5_000 and run.final_loss > 1e-4


def test_rk4_flow_is_the_small_step_limit_of_gradient_descent():
    # Gradient descent with step η grows at ln(1 + ηλ)/η = λ(1 − ηλ/2 + …): its half-fit times exceed the
    # flow's by a relative O(ηλ) that halves with η. RK4's own bias is (hλ)^4/120 ≈ 1e-6 here.
    rng = np.random.default_rng(2)
    n, m, d = 4, 3, 6
    labels = rng.standard_normal(n)
    norms = rng.uniform(0.5, 2.0, n)
    norms *= n / np.linalg.norm(labels * norms)                       # total rate Λ = ||y s|| / n = 1
    problem = OrthogonalProblem.from_inputs(coordinate_inputs(norms, d, rng), labels)
    init = sample_initialization(problem, m, "balanced", seed=rng)
    (flow,) = gradient_flow(problem, init, 1e-8, 0.1, max_steps=5_000)   # may stall: not all samples covered
    fitted = flow.half_fitted
    assert fitted.sum() >= 2
    gaps = []
    for eta in (0.02, 0.01):
        (descent,) = gradient_descent(problem, init, 1e-8, eta, targets=fitted, max_steps=50_000)
        assert descent.converged
        np.testing.assert_array_equal(descent.assignment, flow.assignment)
        relative = (descent.half_fit_times[fitted] - flow.half_fit_times[fitted]) / flow.half_fit_times[fitted]
        grid = (eta + 0.1) / np.log(1e8) / flow.half_fit_times[fitted]   # half-fit times live on step grids
        assert np.all(relative > -grid) and np.all(relative < eta + grid)
        gaps.append(np.max(relative))
    assert 1.5 < gaps[0] / gaps[1] < 2.5
