"""The direct finite-σ reference against the real network (docs/math/finite-sigma.rst).

Gradient descent: half-fit steps identical to float64 PyTorch training of the network on
X (``validation.train``), and the state after k steps equal to the network's. Gradient
flow: the classical RK4 oracle on X converges to the direct run at its order (step h →
h/2 divides the error by about 2⁴).
"""

import numpy as np
import pytest
from instances import random_instance

from jumpprocess import OrthogonalProblem, sample_initialization, simulate_finite
from jumpprocess.finite import coordinate_inputs

torch = pytest.importorskip("torch")
from validation.training import lift_initialization, train  # noqa: E402


def _instances():
    """Three inits × (±1, Gaussian) labels, random norms, small sizes."""
    out = []
    for k, (kind, labels) in enumerate([(kind, labels) for kind in ("balanced", "output-dominated", "gaussian")
                                        for labels in ("sign", "gaussian")]):
        rng = np.random.default_rng(100 + k)
        n = int(rng.integers(4, 12))
        y = rng.choice([-1.0, 1.0], n) if labels == "sign" else rng.normal(size=n)
        problem = OrthogonalProblem.from_inputs(coordinate_inputs(rng.uniform(0.5, 2.0, n)), y)
        out.append((problem, sample_initialization(problem, int(rng.integers(3, 8)), kind, seed=200 + k), kind, labels))
    return out


@pytest.mark.parametrize("eta", [0.5, 2.0])
def test_descent_half_fit_steps_equal_pytorch_training(eta):
    checked = 0
    for problem, init, kind, labels in _instances():
        X = problem.inputs
        W = lift_initialization(init, X)
        for sigma in (1e-2, 1e-8, 1e-32):
            run = simulate_finite(problem, init, sigma=sigma, step_size=eta, method="direct")
            fitted = np.isfinite(run.half_fit_times)
            last = int(np.nanmax(run.half_fit_times) / eta) if fitted.any() else 10
            result = train(X, problem.labels, W[None], init.output_weights[None], [sigma], step_size=eta,
                           max_steps=last + 50, checkpoints=4, record_residuals=False)
            torch_steps = result.half_fit_steps[0].astype(float)
            torch_steps[torch_steps < 0] = np.nan
            ours = run.half_fit_times / eta
            assert np.array_equal(torch_steps, ours, equal_nan=True), (kind, labels, sigma, torch_steps, ours)
            checked += int(fitted.sum())
    assert checked > 60


def test_descent_state_after_k_steps_equals_the_network():
    problem, init, *_ = _instances()[4]
    X = problem.inputs
    W = lift_initialization(init, X)
    for k in (1, 7, 60):
        result = train(X, problem.labels, W[None], init.output_weights[None], [1e-3], step_size=0.5,
                       max_steps=k, checkpoints=2, record_residuals=False)
        run = simulate_finite(problem, init, sigma=1e-3, step_size=0.5, method="direct", stop_time=0.5 * k)
        np.testing.assert_allclose(run.output_weights, result.final_output_weights[0], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(run.preactivations, result.final_preactivations[0], rtol=1e-10, atol=1e-18)


def test_flow_rk4_oracle_converges_at_fourth_order():
    """No ReLU death (positive labels, ā > 0, Ū > 0): the flow is smooth, and the RK4
    oracle's error against the direct run falls by 2⁴ = 16 per halving of h (measured
    12–15 on the way down)."""
    from jumpprocess import Initialization, Tolerances

    rng = np.random.default_rng(1)
    n, m = 5, 3
    problem = OrthogonalProblem.from_inputs(coordinate_inputs(rng.uniform(0.7, 1.5, n)), rng.uniform(0.5, 1.5, n))
    init = Initialization(rng.uniform(0.2, 1.0, (m, n)), rng.uniform(1.0, 2.0, m))
    run = simulate_finite(problem, init, sigma=1e-3, method="direct", tolerances=Tolerances(rtol=1e-13))
    errors = [_oracle_error(problem, init, 1e-3, h, run) for h in (1.6, 0.8, 0.4, 0.2)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 11) & (ratios < 20)), (errors, ratios)
    assert ratios[-1] > 14


def test_flow_rk4_oracle_converges_through_relu_deaths():
    """With deaths the oracle steps over kinks (lower order), but still converges to the run."""
    rng = np.random.default_rng(8)
    n = 6
    problem = OrthogonalProblem.from_inputs(coordinate_inputs(rng.uniform(0.7, 1.5, n)), rng.normal(size=n))
    init = sample_initialization(problem, 4, "balanced", seed=8)
    run = simulate_finite(problem, init, sigma=1e-3, method="direct")
    errors = [_oracle_error(problem, init, 1e-3, h, run) for h in (0.8, 0.4, 0.2, 0.1)]
    assert all(e1 < e0 for e0, e1 in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-5 * run.loss_at(0.0)


def _oracle_error(problem, init, sigma, h, run):
    """Max over times t_q of |L_rk4(t_q) − L_direct(t_q)| with the oracle stepped at h."""
    from jumpprocess.finite import initial_parameters, loss_and_gradient

    a, W = initial_parameters(problem, init)
    a, W = sigma * a, sigma * W
    X, y = problem.inputs, problem.labels
    T = float(np.nanmax(run.half_fit_times)) * 1.2
    steps = int(round(T / h))

    def velocity(a, W):
        _, ga, gW, _ = loss_and_gradient(a, W, X, y)
        return -ga, -gW

    worst = 0.0
    for k in range(1, steps + 1):
        k1 = velocity(a, W)
        k2 = velocity(a + 0.5 * h * k1[0], W + 0.5 * h * k1[1])
        k3 = velocity(a + 0.5 * h * k2[0], W + 0.5 * h * k2[1])
        k4 = velocity(a + h * k3[0], W + h * k3[1])
        a = a + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        W = W + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        if k % max(1, int(round(1.6 / h))) == 0:
            loss = loss_and_gradient(a, W, X, y)[0]
            worst = max(worst, abs(loss - run.loss_at(k * h)))
    return worst
