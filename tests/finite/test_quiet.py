"""Quiet samples (``quiet_descent.quiet_descent_window``) against the exact descent map.

docs/math/finite-sigma.rst, "Quiet samples": coordinates on samples whose residual stays
within ``tol`` over an interval are advanced by one scalar per neuron, the interval is
checked at its end and redone with the offending samples active. Every test runs the same
state through ``vector_field.descent_window`` (every coordinate stepped) and requires the
same events at the same steps (deaths, promotion, half-fit steps) and states within a
tolerance that the lumping error explains; each also checks that the lumped path was taken.
"""

import math

import numpy as np
import pytest

from jumpprocess import OrthogonalProblem, make_problem, orthonormal_inputs, sample_initialization, simulate_finite
from jumpprocess.finite import vector_field as vf
from jumpprocess.finite.engine import Tolerances
from jumpprocess.finite.quiet_descent import quiet_descent_window


def _both(X, alive, large, log_scale, y, s, eta, log_delta, steps, *, drift, quiet_tol, interval=16,
          through_promotions=False):
    """Run the exact and the quiet window from copies of one state; return both results.

    With ``through_promotions`` the window is called again after each promotion (code 1),
    as the engine does, until ``steps`` steps are taken; ``drift`` carries over.
    """
    out = []
    counts = np.zeros(4, dtype=np.int64)
    for quiet in (False, True):
        state = [X.copy(), alive.copy(), large.copy(), log_scale.copy()]
        half = np.full(y.shape[0], -1, dtype=np.int64)
        losses = np.empty(steps)
        taken = 0
        while True:
            chunk = np.empty(steps - taken)
            args = (*state, y, s, eta, log_delta, -np.inf, 1e-300, 0.0, steps - taken, taken, 2**62, 2**62, half,
                    chunk)
            if quiet:
                k, code = quiet_descent_window(*args, quiet_tol, interval, drift, counts)
            else:
                k, code = vf.descent_window(*args)
            losses[taken:taken + k] = chunk[:k]
            taken += k
            if not (through_promotions and code == 1 and taken < steps):
                break
        out.append((state, half, losses[:taken], taken, code))
    out.append(counts)
    return out


def _small_neurons(seed, m=6, n=40):
    """Small neurons only: the residual is ``y`` and never moves, so every sample is quiet."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n + 1))
    X[:, 1:] = np.abs(X[:, 1:])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    alive = np.ones((m, n), bool)
    return X, alive, np.zeros(m, bool), np.full(m, -300.0), rng.normal(size=n), rng.uniform(0.5, 2.0, n)


@pytest.mark.parametrize("seed", range(4))
def test_lumped_small_neurons_die_and_grow_at_the_exact_steps(seed):
    """All samples quiet from the start: coordinates that step to ≤ 0 die at the same step
    as under the exact map (the death thresholds of the lumped scalar), and the rows agree."""
    X, alive, large, log_scale, y, s = _small_neurons(seed)
    eta, steps = 2.0, 400
    drift = np.zeros(y.shape[0])
    (st_e, _, loss_e, k_e, code_e), (st_q, _, loss_q, k_q, code_q), counts = _both(
        X, alive, large, log_scale, y, s, eta, np.inf, steps, drift=drift, quiet_tol=1e-8)
    assert counts[2] == 0 and counts[3] == steps * X.shape[0]  # no coordinate was stepped one by one
    assert (k_q, code_q) == (k_e, code_e) == (steps, 2)
    assert (~st_e[1]).sum() > 10  # many coordinates died on the way
    assert np.array_equal(st_q[1], st_e[1])
    np.testing.assert_allclose(st_q[3], st_e[3], rtol=1e-13)  # the same renormalizations (rows rescaled by e^±69)
    assert np.all(st_e[3] > -300.0 + 69.0)  # every row grew past e^69 and was rescaled
    np.testing.assert_allclose(st_q[0], st_e[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(loss_q, loss_e)  # no large neuron: the loss is that of y
    assert np.all(drift == 0.0)  # every interval was lumped and checked


@pytest.mark.parametrize("seed", range(3))
def test_promotion_happens_at_the_same_step(seed):
    """A lumped small neuron crosses δ at the step the exact map makes it large."""
    X, alive, large, log_scale, y, s = _small_neurons(seed)
    eta = 2.0
    drift = np.zeros(y.shape[0])
    # the exact run's amplitudes after 150 steps set a δ that one neuron reaches in between
    (st, *_), _, _ = _both(X, alive, large, log_scale, y, s, eta, np.inf, 150, drift=drift.copy(), quiet_tol=1e-8)
    amps = np.log(vf.amplitudes(st[0], st[1])) + st[3]
    log_delta = float(np.max(amps)) - 1e-6
    (st_e, _, _, k_e, code_e), (st_q, _, _, k_q, code_q), counts = _both(
        X, alive, large, log_scale, y, s, eta, log_delta, 400, drift=drift, quiet_tol=1e-8)
    assert counts[2] == 0 and counts[3] > 0
    assert code_e == code_q == 1 and k_q == k_e <= 150
    assert np.array_equal(st_q[2], st_e[2]) and st_q[2].sum() == 1
    np.testing.assert_allclose(st_q[0], st_e[0], rtol=1e-10, atol=1e-12)


def _mid_run_state(n=150, m=12):
    """An instance whose hybrid descent run has neurons crossing δ one after another."""
    labels = make_problem(n, "sign-balanced", seed=0).labels
    problem = OrthogonalProblem.from_inputs(orthonormal_inputs(n), labels)
    init = sample_initialization(problem, m, "balanced", seed=1)
    return problem, init


def test_wrongly_quiet_samples_are_redone():
    """Claimed quiet everywhere (drift 0) while large neurons fit: the intervals whose quiet
    samples moved are undone and redone, and the run agrees with the exact map."""
    from jumpprocess.finite.engine import _Runner

    problem, init = _mid_run_state()
    runner = _Runner(problem, init, math.log(1e-8), 1.0, "hybrid", Tolerances())
    st = runner.state
    runner._promote()
    # step the exact map until some neurons are large and fitting
    half = np.full(problem.n, -1, dtype=np.int64)
    taken = 0
    while st.large.sum() < 1 and taken < 5000:  # the first promotion ends the window
        k, _ = vf.descent_window(st.X, st.alive, st.large, st.log_scale, runner.y, runner.s, 1.0, runner.log_delta,
                                 runner.log_cover, 1e-300, 0.0, 600, taken, 2**62, 2**62, half, np.empty(600))
        taken += k
    assert st.large.sum() >= 1  # a neuron just crossed δ: it fits its samples in the next steps
    y, s = runner.y, runner.s
    drift = np.zeros(problem.n)
    (st_e, half_e, loss_e, k_e, code_e), (st_q, half_q, loss_q, k_q, code_q), counts = _both(
        st.X, st.alive, st.large, st.log_scale, y, s, 1.0, runner.log_delta, 2000, drift=drift,
        quiet_tol=1e-9, interval=64, through_promotions=True)
    assert (k_q, code_q) == (k_e, code_e)
    # the claim "all quiet" was wrong: samples were fitted in the window (half-fit steps), so
    # the first interval had to be redone; agreeing below needs that
    assert np.sum(half_e >= 0) >= 5 and loss_e[-1] < 0.9 * loss_e[0]
    assert counts[1] >= 1 and counts[3] > 0  # intervals were redone, and lumping was used
    assert np.isfinite(drift).all() and np.sum(drift * 8 <= 1e-9) > 0  # measured, and some found quiet
    assert np.array_equal(half_q, half_e) and np.array_equal(st_q[1], st_e[1])
    np.testing.assert_allclose(st_q[0], st_e[0], rtol=0, atol=1e-7)
    np.testing.assert_allclose(loss_q, loss_e, rtol=0, atol=1e-9)


@pytest.mark.parametrize("log_sigma", [math.log(1e-16), -2000.0])
def test_engine_with_quiet_samples_matches_direct_steps(log_sigma, monkeypatch):
    """Hybrid with the default quiet tolerance vs the direct engine (σ = 1e-16) and vs the
    hybrid with every coordinate stepped (ln σ = −2000): identical half-fit steps, loss within
    1e-8 of L(0), and the lumped path was taken."""
    from jumpprocess.finite import quiet_descent

    problem, init = _mid_run_state(n=300, m=20)
    seen = []
    original = quiet_descent.quiet_descent_window

    def watched(*args):
        seen.append(args[-1])  # the engine's counts array
        return original(*args)

    monkeypatch.setattr(quiet_descent, "quiet_descent_window", watched)
    quiet = simulate_finite(problem, init, log_sigma=log_sigma, step_size=1.0)
    assert seen and seen[-1][3] > 0  # neuron steps taken by a lumped scalar
    if log_sigma > math.log(1e-150):
        exact = simulate_finite(problem, init, log_sigma=log_sigma, step_size=1.0, method="direct")
    else:
        exact = simulate_finite(problem, init, log_sigma=log_sigma, step_size=1.0,
                                tolerances=Tolerances(quiet=0.0))
    a, b = exact.half_fit_times, quiet.half_fit_times
    assert np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)])
    grid = np.linspace(0.0, 1.2 * exact.final_time, 4000)
    assert np.max(np.abs(exact.loss_at(grid) - quiet.loss_at(grid))) <= 1e-8 * exact.loss_at(0.0)


@pytest.mark.parametrize("seed", range(6))
def test_random_claims_of_quiet_agree_with_the_exact_map(seed):
    """Random states (large and small neurons, dead coordinates) and random claims of which
    samples are quiet: whatever is claimed, the window takes the same steps, kills the same
    coordinates, records the same half-fit steps, and ends within the tolerance's reach."""
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(3, 8)), int(rng.integers(10, 40))
    X = rng.normal(size=(m, n + 1))
    X[:, 1:] = np.abs(X[:, 1:])
    alive = rng.random((m, n)) < 0.7
    X[:, 1:][~alive] = -rng.random(int((~alive).sum()))
    large = rng.random(m) < 0.6
    X[large] *= 0.3
    X[~large] /= np.linalg.norm(X[~large], axis=1, keepdims=True)
    log_scale = np.where(large, 0.0, -30.0)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    s = rng.uniform(0.5, 2.0, n)
    drift = np.where(rng.random(n) < 0.6, 0.0, np.inf)  # a random majority claimed quiet
    (st_e, half_e, loss_e, k_e, code_e), (st_q, half_q, loss_q, k_q, code_q), counts = _both(
        X, alive, large, log_scale, y, s, 0.5, np.inf, 600, drift=drift, quiet_tol=1e-10, interval=32)
    assert (k_q, code_q) == (k_e, code_e)
    assert counts[3] > 0
    assert np.array_equal(half_q, half_e) and np.array_equal(st_q[1], st_e[1])
    # The tolerance bounds the residual in absolute terms, so a lumped increment is right to
    # (η/n)|a_j| s_i tol: small next to the neuron's amplitude, not next to a coordinate that
    # is itself far below it (on a converged sample, r_i ~ tol): compare rows by their norm.
    scale = np.maximum(np.linalg.norm(st_e[0], axis=1), 1.0)
    assert np.all(np.max(np.abs(st_q[0] - st_e[0]), axis=1) <= 1e-8 * scale)
    np.testing.assert_allclose(loss_q, loss_e, rtol=0, atol=1e-8 * loss_e[0])
