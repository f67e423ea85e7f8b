"""The compiled kernels of the finite-σ engines against plain numpy formulas.

The kernels run over each neuron's alive coordinates only (``alive_index``); these tests
check that a dead coordinate is skipped and keeps its value, and that the alive ones get the
equations of docs/math/finite-sigma.rst (with ``relu(U_ji) = s_i z_ji`` where alive):
``r_i = y_i − Σ_{j large} a_j s_i z_ji``, ``da_j/dt = (1/n) Σ_i r_i s_i z_ji``,
``dz_ji/dt = (s_i/n) a_j r_i``, one Dormand–Prince 5(4) step of them, and one descent step.
"""

import numpy as np
import pytest

from jumpprocess.finite import vector_field as vf
from jumpprocess.finite.integrator import FlowSystem, first_crossing, hermite


def _state(seed, m=5, n=9):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n + 1))
    X[:, 1:] = np.abs(X[:, 1:])
    alive = rng.random((m, n)) < 0.6
    X[:, 1:][~alive] = -rng.random(int((~alive).sum()))  # dead coordinates hold a frozen value <= 0
    large = rng.random(m) < 0.7
    return X, alive, large, rng.normal(size=n), rng.uniform(0.5, 2.0, n)


def _derivative(X, alive, large, y, s):
    n = y.shape[0]
    r = y - s * np.sum((X[:, :1] * X[:, 1:] * alive)[large], axis=0)
    out = np.zeros_like(X)
    out[:, 0] = (X[:, 1:] * alive) @ (r * s) / n
    out[:, 1:] = X[:, :1] * (r * s) * alive / n
    return r, out


@pytest.mark.parametrize("seed", range(4))
def test_alive_index_lists_alive_coordinates_in_order(seed):
    _, alive, *_ = _state(seed)
    index, count = vf.alive_index(alive)
    for j in range(alive.shape[0]):
        assert list(index[j, :count[j]]) == list(np.flatnonzero(alive[j]))


@pytest.mark.parametrize("seed", range(4))
def test_residual_derivative_amplitudes(seed):
    X, alive, large, y, s = _state(seed)
    r, f = _derivative(X, alive, large, y, s)
    r_kernel, f_kernel = FlowSystem(y, s).derivative(X, alive, large)
    np.testing.assert_allclose(r_kernel, r, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(f_kernel, f, rtol=1e-14, atol=1e-14)
    assert np.all(f_kernel[:, 1:][~alive] == 0.0)
    amps = np.sqrt(X[:, 0] ** 2 + np.sum(X[:, 1:] ** 2 * alive, axis=1))
    np.testing.assert_allclose(vf.amplitudes(X, alive), amps, rtol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_dopri_step_matches_the_tableau_and_keeps_dead_coordinates(seed):
    from jumpprocess.finite.integrator import _A, _B

    X, alive, large, y, s = _state(seed)
    h = 0.3
    _, f0 = _derivative(X, alive, large, y, s)
    K = [f0]
    for stage in range(1, 6):
        K.append(_derivative(X + h * sum(_A[stage, q] * K[q] for q in range(stage)), alive, large, y, s)[1])
    expected = X + h * sum(_B[q] * K[q] for q in range(6))
    X1, r1, f1, error = FlowSystem(y, s).step(X, f0, h, alive, large)
    np.testing.assert_allclose(X1, expected, rtol=1e-13, atol=1e-13)
    assert np.array_equal(X1[:, 1:][~alive], X[:, 1:][~alive])
    np.testing.assert_allclose(r1, _derivative(X1, alive, large, y, s)[0], rtol=1e-13, atol=1e-13)
    assert np.all(f1[:, 1:][~alive] == 0.0) and error > 0.0


@pytest.mark.parametrize("seed", range(4))
def test_descent_step_is_the_gradient_map(seed):
    """One step of descent_window (every neuron large, nothing to promote or converge)."""
    X, alive, large, y, s = _state(seed)
    eta = 0.4
    X1, alive1 = X.copy(), alive.copy()
    half = np.full(y.shape[0], -1, dtype=np.int64)
    losses = np.empty(2)
    steps, code = vf.descent_window(X1, alive1, np.ones_like(large), np.zeros(X.shape[0]), y, s, eta,
                                    np.inf, -np.inf, 1e-300, 0.0, 1, 0, 2**62, 2**62, half, losses)
    assert (steps, code) == (1, 2)
    r_all, f_all = _derivative(X, alive, np.ones_like(large), y, s)
    np.testing.assert_allclose(X1, X + eta * f_all, rtol=1e-13, atol=1e-13)
    assert np.array_equal(X1[:, 1:][~alive], X[:, 1:][~alive])
    assert np.array_equal(alive1, alive & ((X + eta * f_all)[:, 1:] > 0.0))
    assert losses[0] == pytest.approx(0.5 * np.mean(r_all ** 2), rel=1e-14)


def test_first_crossing_finds_the_root_of_the_interpolant():
    rng = np.random.default_rng(3)
    # Monotone decreasing cubics through (0, y0) and (1, y1) with slopes d0, d1 <= 0.
    y0 = rng.uniform(0.5, 2.0, 50)
    y1 = -rng.uniform(0.5, 2.0, 50)
    d0 = -rng.uniform(0.0, 1.0, 50) * (y0 - y1)
    d1 = -rng.uniform(0.0, 1.0, 50) * (y0 - y1)
    level = rng.uniform(-0.4, 0.4, 50)
    theta = first_crossing(y0, y1, d0, d1, level)
    values = np.array([hermite(t, a, b, c, d) for t, a, b, c, d in zip(theta, y0, y1, d0, d1)])
    np.testing.assert_allclose(values, level, atol=1e-12)
    # A scalar level broadcasts; the straight line 1 − 2θ crosses 0 at θ = 1/2.
    assert first_crossing(np.array([1.0]), np.array([-1.0]), np.array([-2.0]), np.array([-2.0]), 0.0)[0] == 0.5


def test_first_crossing_is_the_first_of_three():
    """A cubic that dips below the level, comes back above and falls again: the first of
    its three crossings, not the one plain bisection on [0, 1] would converge to."""
    # p(θ) + level with p = −8 (θ − 0.1)(θ − 0.25)(θ − 0.9) crosses the level at 0.1, 0.25
    # and 0.9; p(1/2) > 0, so bisection on [0, 1] would go right and find 0.9.
    level = 0.1
    coeffs = -8.0 * np.poly([0.1, 0.25, 0.9])
    p = np.poly1d(coeffs)
    y0, y1 = p(0.0) + level, p(1.0) + level
    d0, d1 = p.deriv()(0.0), p.deriv()(1.0)  # h·y' with h = 1
    assert y0 > level >= y1
    theta = first_crossing(np.array([y0]), np.array([y1]), np.array([d0]), np.array([d1]), level)[0]
    assert theta == pytest.approx(0.1, abs=1e-12)


def test_kept_work_space_gives_the_same_steps(monkeypatch):
    """Large states are stepped in two kept output pairs used in turn (integrator
    ``_KEEP_BUFFERS``): forced on for a small state, two alternating steps equal fresh ones
    bit for bit, dead coordinates included, and the outputs never alias the inputs."""
    from jumpprocess.finite import integrator

    X, alive, large, y, s = _state(5, m=6, n=30)
    _, f0 = _derivative(X, alive, large, y, s)
    fresh = FlowSystem(y, s)
    a1 = fresh.step(X, f0, 0.2, alive, large)
    a2 = fresh.step(a1[0], a1[2], 0.2, alive, large)
    monkeypatch.setattr(integrator, "_KEEP_BUFFERS", 0)
    kept = FlowSystem(y, s)
    b1 = kept.step(X, f0, 0.2, alive, large)
    b2 = kept.step(b1[0], b1[2], 0.2, alive, large)
    assert b2[0] is not b1[0] and b2[2] is not b1[2]
    for a, b in ((a1, b1), (a2, b2)):
        assert all(np.array_equal(u, v) for u, v in zip(a[:3], b[:3])) and a[3] == b[3]
    b3 = kept.step(b2[0], b2[2], 0.2, alive, large)  # back in the first pair, overwriting b1
    assert b3[0] is b1[0] and b3[0] is not b2[0]


def test_flow_run_with_kept_work_space_is_bit_identical(monkeypatch):
    """A whole hybrid flow run with deaths, promotions and plateaus, stepped in kept work
    space, equals the run with fresh arrays: half-fit times, loss curve, final parameters."""
    from jumpprocess import make_problem, sample_initialization, simulate_finite
    from jumpprocess.finite import integrator

    problem = make_problem(24, "sign-balanced", seed=2)
    init = sample_initialization(problem, 10, "balanced", seed=3)
    runs = []
    for keep in (False, True):
        if keep:
            monkeypatch.setattr(integrator, "_KEEP_BUFFERS", 0)
        runs.append(simulate_finite(problem, init, sigma=1e-6))
    a, b = runs
    assert np.array_equal(a.half_fit_times, b.half_fit_times, equal_nan=True)
    assert np.array_equal(a.samples, b.samples)
    t = 0.5 * a.final_time
    assert all(np.array_equal(u, v) for u, v in zip(a.parameters_at(t), b.parameters_at(t)))
