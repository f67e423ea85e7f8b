"""The hybrid finite-σ engine against the direct reference, the closed forms, and the limit.

docs/math/finite-sigma.rst. The full acceptance sweep (30 instances × 5 σ × flow and two
step sizes) is ``python benchmarks/finite_accuracy.py``; this file runs a subset.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
from instances import random_instance

from jumpprocess import (
    Initialization,
    OrthogonalProblem,
    Tolerances,
    make_problem,
    sample_initialization,
    sigma_for_limit,
    simulate,
    simulate_finite,
)
from jumpprocess.finite import LimitNotReproducedWarning, limit_threshold


def _agreement(problem, init, sigma, eta):
    direct = simulate_finite(problem, init, sigma=sigma, step_size=eta, method="direct")
    hybrid = simulate_finite(problem, init, sigma=sigma, step_size=eta, method="hybrid")
    assert np.array_equal(np.isnan(direct.half_fit_times), np.isnan(hybrid.half_fit_times))
    ok = np.isfinite(direct.half_fit_times)
    last = float(np.max(direct.half_fit_times[ok])) if ok.any() else 1.0
    dt = float(np.max(np.abs(direct.half_fit_times[ok] - hybrid.half_fit_times[ok]), initial=0.0))
    grid = np.unique(np.concatenate([direct.samples[:, 0], hybrid.samples[:, 0],
                                     np.linspace(0, 1.1 * max(direct.final_time, hybrid.final_time), 1000)]))
    dl = float(np.max(np.abs(direct.loss_at(grid) - hybrid.loss_at(grid))))
    return dt / last, dl / direct.loss_at(0.0), direct, hybrid


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 9, 13])
def test_hybrid_agrees_with_direct(seed):
    problem, init, description = random_instance(seed, n_range=(4, 24), m_range=(4, 16))
    for eta in (None, 0.5, 2.0):
        for sigma in (1e-2, 1e-8, 1e-32):
            dt, dl, direct, hybrid = _agreement(problem, init, sigma, eta)
            where = (description, eta, sigma)
            if eta is None:
                assert dt <= 1e-6, where
            else:
                assert dt == 0.0, where  # identical half-fit steps
            assert dl <= 1e-6, where
            assert np.array_equal(direct.fitted_by, hybrid.fitted_by), where


def test_hybrid_cost_does_not_depend_on_sigma():
    """Plateaus are skipped: steps integrated stay bounded as ln(1/σ) grows a hundredfold,
    while the direct reference pays for every plateau."""
    problem, init, _ = random_instance(3, n_range=(10, 20), m_range=(6, 10))
    counts = [simulate_finite(problem, init, log_sigma=ls, step_size=0.5).samples.shape[0]
              for ls in (-2e3, -2e5)]
    assert counts[1] < 1.5 * counts[0], counts
    direct = [simulate_finite(problem, init, log_sigma=ls, step_size=0.5, method="direct").samples.shape[0]
              for ls in (-20.0, -200.0)]
    assert direct[1] > 3 * direct[0], direct


def test_closed_form_flow_segment_is_the_matrix_exponential():
    """No death ahead (all w ≥ 0, a > 0): the state after T is expm(M T) x0."""
    from jumpprocess.finite.closed_form import flow_segment

    rng = np.random.default_rng(0)
    n = 7
    w = rng.uniform(0.1, 1.0, n)
    x0 = np.concatenate(([0.8], rng.uniform(0.1, 1.0, n)))
    M = np.zeros((n + 1, n + 1))
    M[0, 1:] = w / n
    M[1:, 0] = w / n
    for T in (0.3, 5.0, 40.0):
        state = x0.copy()
        alive = np.ones(n, dtype=bool)
        elapsed, growth, reached, deaths = flow_segment(state, alive, w, n, T, math.inf)
        expected = scipy.linalg.expm(M * T) @ x0
        assert elapsed == T and deaths == 0 and not reached
        np.testing.assert_allclose(np.exp(growth) * state, expected, rtol=1e-12)


def test_closed_form_descent_segment_is_the_matrix_power():
    from jumpprocess.finite.closed_form import descent_segment

    rng = np.random.default_rng(1)
    n, eta = 6, 0.7
    w = rng.uniform(0.1, 1.0, n)
    x0 = np.concatenate(([0.5], rng.uniform(0.1, 1.0, n)))
    step = np.eye(n + 1)
    step[0, 1:] = eta * w / n
    step[1:, 0] = eta * w / n
    for K in (1, 9, 200):
        state = x0.copy()
        alive = np.ones(n, dtype=bool)
        done, growth, reached, deaths = descent_segment(state, alive, w, n, eta, K, math.inf)
        expected = np.linalg.matrix_power(step, K) @ x0
        assert done == K and deaths == 0
        np.testing.assert_allclose(np.exp(growth) * state, expected, rtol=1e-11)


def test_closed_form_flow_death_is_where_the_coordinate_hits_zero():
    """One coordinate moving against the growth dies exactly when z_i(t) = 0 (checked by expm)."""
    from jumpprocess.finite.closed_form import flow_segment

    n = 3
    w = np.array([1.0, 0.5, -0.4])
    x0 = np.array([1.0, 0.3, 0.2, 0.05])
    state, alive = x0.copy(), np.ones(n, dtype=bool)
    elapsed, growth, reached, deaths = flow_segment(state, alive, w, n, 2.0, math.inf)
    assert deaths == 1 and not alive[2]
    # Before the death the flow is linear with all three coordinates: find the root of z_2(t).
    M = np.zeros((n + 1, n + 1))
    M[0, 1:] = w / n
    M[1:, 0] = w / n
    lo, hi = 0.0, 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (scipy.linalg.expm(M * mid) @ x0)[3] > 0 else (lo, mid)
    after = scipy.linalg.expm(M * lo) @ x0
    M2 = M.copy()
    M2[0, 3] = M2[3, 0] = 0.0
    after[3] = 0.0
    expected = scipy.linalg.expm(M2 * (2.0 - lo)) @ after
    np.testing.assert_allclose(np.exp(growth) * state, expected, rtol=1e-9, atol=1e-12)


def _many_deaths(seed, n):
    """A unit-amplitude neuron whose coordinates die one after another: w of both signs."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n)
    state = np.concatenate(([rng.normal()], rng.uniform(0.05, 1.0, n)))
    return state / np.linalg.norm(state), w


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_descent_segment_with_many_deaths_is_the_map(seed):
    """Against the descent map iterated on the whole vector (a coordinate stepping to <= 0
    freezes there): same deaths, same state, whichever way the segment orders them."""
    from jumpprocess.finite.closed_form import descent_segment

    n, eta, K = 40, 0.8, 3000
    x0, w = _many_deaths(seed, n)
    x, alive = x0.copy(), np.ones(n, dtype=bool)
    for _ in range(K):
        g = alive * w
        step = x.copy()
        step[0] += eta * float(g @ x[1:]) / n
        step[1:] += eta * x[0] * g / n
        alive &= ~(step[1:] <= 0.0)
        x = step
        x /= np.linalg.norm(x)  # the direction only: the segment returns its growth apart
    state, seg_alive = x0.copy(), np.ones(n, dtype=bool)
    done, growth, reached, deaths = descent_segment(state, seg_alive, w, n, eta, K, math.inf)
    assert done == K and not reached and deaths == n - alive.sum() > 5
    assert np.array_equal(seg_alive, alive)
    np.testing.assert_allclose(state / np.linalg.norm(state), x, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_flow_segment_with_many_deaths_is_the_flow(seed):
    """Against scipy's integrator with an event at every alive coordinate's zero: the
    same coordinates die and the state is the same."""
    from scipy.integrate import solve_ivp

    from jumpprocess.finite.closed_form import flow_segment

    n, T = 12, 60.0
    x0, w = _many_deaths(seed, n)
    x, alive, t, order = x0.copy(), np.ones(n, dtype=bool), 0.0, []
    while t < T:
        g = alive * w
        events = []
        for i in np.flatnonzero(alive & (w != 0)):
            def hit(_, v, i=i):
                return v[1 + i]
            hit.terminal, hit.direction = True, -1
            events.append(hit)
        sol = solve_ivp(lambda _, v: np.concatenate(([g @ v[1:] / n], v[0] * g / n)), (t, T), x,
                        events=events or None, rtol=1e-12, atol=1e-14)
        x, t = sol.y[:, -1].copy(), sol.t[-1]
        if sol.status == 1:
            live = np.flatnonzero(alive & (w != 0))
            k = live[[len(e) > 0 for e in sol.t_events].index(True)]
            x[1 + k], alive[k] = 0.0, False
            order.append(k)
        scale = np.linalg.norm(x)
        x /= scale
    state, seg_alive = x0.copy(), np.ones(n, dtype=bool)
    elapsed, growth, reached, deaths = flow_segment(state, seg_alive, w, n, T, math.inf)
    assert elapsed == T and not reached and deaths == len(order) >= 2
    assert np.array_equal(seg_alive, alive)
    np.testing.assert_allclose(state / np.linalg.norm(state), x, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("eta", [None, 0.5])
def test_the_limit_from_the_other_side(eta):
    """At ln σ = −1e3, −1e4, −1e5: |t/ln(1/σ) − τ| · ln(1/σ) stays bounded (an O(1) offset
    in t), and the fitted sets are the limit's wherever the limit has no overlapping tie."""
    checked = 0
    for seed in range(8):
        problem, init, description = random_instance(seed, n_range=(4, 16), m_range=(3, 10))
        trajectory = simulate(problem, init, eta, ties="index")
        if trajectory.ambiguous:
            continue
        limit = np.full(problem.n, np.nan)
        for event in trajectory.events:
            limit[event.fitted] = event.time
        scaled = []
        for log_sigma in (-1e3, -1e4, -1e5):
            run = simulate_finite(problem, init, log_sigma=log_sigma, step_size=eta)
            assert run.compare_limit(trajectory).reproduces_all, (description, log_sigma)
            assert np.array_equal(np.isnan(run.half_fit_times), np.isnan(limit))
            error = np.nanmax(np.abs(run.half_fit_times / -log_sigma - limit))
            scaled.append(error * -log_sigma)
        assert max(scaled) < 1.2 * min(scaled) + 1.0, (description, scaled)  # bounded, not growing
        checked += 1
    assert checked >= 4


def test_log_sigma_far_below_the_float_range():
    problem = make_problem(12, "sign-balanced", seed=3)
    init = sample_initialization(problem, 6, "balanced", seed=4)
    run = simulate_finite(problem, init, log_sigma=-1e6, step_size=0.5)
    assert run.sigma == 0.0 and np.isfinite(run.half_fit_times[run.fitted_by >= 0]).all()
    a, U = run.parameters_at(0.0)
    assert np.all(a == 0.0) and np.all(U == 0.0)   # σ θ̄ is below the float range


def test_plateau_ends_on_the_threshold_at_log_sigma_minus_1e6():
    # Regression: here the closed form advanced neuron 30 to ln δ minus rounding (its
    # log-scale is of size 1e6, so rounding is ~1e-10); the plateau loop then asked for ever
    # smaller advances and never ended. The first activation is at τ = 32.73 (the race).
    problem = make_problem(300, "sign-balanced", seed=0)
    init = sample_initialization(problem, 39, "balanced", seed=1000)
    first = simulate(problem, init, ties="index").events[0]
    assert first.neuron == 30 and first.time == pytest.approx(32.73268, abs=1e-5)
    run = simulate_finite(problem, init, log_sigma=-1e6, stop_time=1e6 * 32.8)
    assert run.neurons[0] == 30
    assert np.isfinite(run.half_fit_times).sum() > 0


def test_a_neuron_promoted_on_the_threshold_is_not_taken_for_one_that_shrank():
    # Regression: neuron 5 was promoted at δ, sat a rounding below it, counted as a large
    # neuron that had shrunk, and was given a time to δ of 2.7e-14, below the resolution of a
    # clock at 1.7e7: the plateau loop made no progress (the guard raised RuntimeError).
    problem = make_problem(100, "sign-balanced", seed=0)
    init = sample_initialization(problem, 27, "balanced", seed=3594259124519382057)
    run = simulate_finite(problem, init, log_sigma=-1e6, stop_time=1.8e7)
    assert 5 in run.neurons.tolist()


def test_a_large_neuron_just_below_the_threshold_keeps_moving_in_plateaus():
    # Regression for a first fix of the case above (large neurons counted as shrunk only below
    # δ/2): a large neuron between δ/2 and δ was then neither advanced in plateaus nor covering,
    # i.e. frozen, and neurons 3 and 4 escaped at τ = 18.5696 instead of the race's 18.2574.
    problem = make_problem(100, "sign-balanced", seed=0)
    init = sample_initialization(problem, 27, "balanced", seed=12015615488094665779)
    limit = simulate(problem, init, ties="index")
    tie = [e for e in limit.events if e.neuron in (3, 4)]
    assert len(tie) == 2 and tie[0].time == tie[1].time == pytest.approx(18.2574186, abs=1e-6)
    run = simulate_finite(problem, init, log_sigma=-1e5, stop_time=1e5 * 18.4)
    assert {3, 4} <= set(run.neurons.tolist())
    for j in (3, 4):
        first = float(np.nanmin(run.half_fit_times[run.fitted_by == j]))
        assert abs(first / 1e5 - tie[0].time) < 1e-3


def test_loss_and_parameters_evaluation():
    problem = OrthogonalProblem([1.0, -1.0, 0.5])
    init = Initialization([[0.5, -0.2, 0.3], [-0.4, 0.6, 0.1]], [0.7, -0.8])
    for eta in (None, 0.25):
        run = simulate_finite(problem, init, sigma=1e-6, step_size=eta)
        times = np.linspace(0.0, run.final_time, 7)
        looped = np.array([run.loss_at(t) for t in times])
        np.testing.assert_array_equal(run.loss_at(times), looped)
        assert run.loss_at(0.0) == pytest.approx(0.5 * (1 + 1 + 0.25) / 3, rel=1e-9)
        assert run.loss_at(np.inf) == run.samples[-1, 1]
        a0, U0 = run.parameters_at(0.0)
        np.testing.assert_allclose(a0, 1e-6 * init.output_weights, rtol=1e-14)
        np.testing.assert_allclose(U0, 1e-6 * init.preactivations, rtol=1e-14)
        a_end, U_end = run.parameters_at(np.inf)
        f = np.sum(a_end[:, None] * np.maximum(U_end, 0.0), axis=0)
        assert np.all(np.abs(f[np.isfinite(run.half_fit_times)] - problem.labels[np.isfinite(run.half_fit_times)])
                      < 1e-6)
        direct = simulate_finite(problem, init, sigma=1e-6, step_size=eta, method="direct")
        mid = float(np.nanmedian(run.half_fit_times))
        for got, want in zip(run.parameters_at(mid), direct.parameters_at(mid)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("method", ["hybrid", "direct"])
@pytest.mark.parametrize("eta", [None, 0.5])
def test_degenerate_problems(method, eta):
    """No neurons, zero labels, one sample, a neuron that never moves: no NaN, no hang."""
    zero = simulate_finite(OrthogonalProblem([0.0, 0.0]), Initialization([[0.5, 0.5]], [1.0]), sigma=1e-6,
                           step_size=eta, method=method)
    assert zero.status.startswith("nothing to fit") and np.all(np.isnan(zero.half_fit_times))
    assert zero.loss_at(np.inf) == pytest.approx(0.5 * 2 * (1e-12 * 0.5) ** 2 / 2)
    empty = simulate_finite(OrthogonalProblem([1.0, -1.0]), Initialization(np.zeros((0, 2)), np.zeros(0)),
                            sigma=1e-6, step_size=eta, method=method)
    assert empty.neurons.size == 0 and empty.loss_at(np.inf) == 0.5
    still = simulate_finite(OrthogonalProblem([1.0, 2.0]), Initialization([[0.0, 0.0]], [0.0]), sigma=1e-6,
                            step_size=eta, method=method)
    assert still.loss_at(np.inf) == 1.25 and np.all(np.isnan(still.half_fit_times))
    one = simulate_finite(OrthogonalProblem([1.0]), Initialization([[0.5]], [1.0]), sigma=1e-6, step_size=eta,
                          method=method)
    assert one.neurons.tolist() == [0] and one.loss_at(np.inf) < 1e-10


@pytest.mark.parametrize("eta", [None, 0.5])
def test_label_scale_covariance(eta):
    """Labels c·y at σ are the run of y at σ/√c with times ÷c, losses ×c², a ×√c (docs/math/model.rst);
    extreme c are computed on normalized labels and scaled back, or refused with the reason."""
    base_problem = make_problem(6, "sign-balanced", seed=0)
    init = sample_initialization(base_problem, 4, "balanced", seed=1)
    for c, sigma in ((1e100, 1e-6), (2.0**200, 1e-6), (1e-100, 1e-80)):
        run = simulate_finite(OrthogonalProblem(base_problem.labels * c), init, sigma=sigma,
                              step_size=None if eta is None else eta / c)
        base = simulate_finite(base_problem, init, log_sigma=math.log(sigma) - 0.5 * math.log(c), step_size=eta)
        np.testing.assert_allclose(run.half_fit_times * c, base.half_fit_times, rtol=1e-12)
        assert run.loss_at(0.0) / c**2 == pytest.approx(base.loss_at(0.0), rel=1e-12)
        # to 1e-12 of the weights' scale (a neuron that never grew, here ~5e-17, carries the
        # rounding of its log-scale, amplified by its decay: 1e-12 of itself is below rounding)
        scale = float(np.max(np.abs(base.output_weights)))
        np.testing.assert_allclose(run.output_weights / math.sqrt(c), base.output_weights, rtol=1e-12, atol=1e-12 * scale)
    with pytest.raises(ValueError, match="rescale the labels"):
        simulate_finite(OrthogonalProblem(base_problem.labels * 1e154), init, sigma=1e-6)
    with pytest.raises(ValueError, match="not a normal float64"):
        simulate_finite(OrthogonalProblem(base_problem.labels * 1e-300), init, sigma=1e-6)


def test_deterministic():
    problem, init, _ = random_instance(4, n_range=(6, 12), m_range=(4, 8))
    first = simulate_finite(problem, init, sigma=1e-5)
    second = simulate_finite(problem, init, sigma=1e-5)
    np.testing.assert_array_equal(first.samples, second.samples)
    np.testing.assert_array_equal(first.half_fit_times, second.half_fit_times)


@pytest.mark.parametrize("kwargs, message", [
    ({"sigma": 0.0}, "0 < sigma < 1"),
    ({"sigma": -1e-3}, "0 < sigma < 1"),
    ({"sigma": 1.0}, "0 < sigma < 1"),
    ({"sigma": float("nan")}, "NaN"),
    ({"log_sigma": 0.5}, "< 0"),
    ({"log_sigma": float("-inf")}, "finite"),
    ({}, "exactly one"),
    ({"sigma": 1e-3, "log_sigma": -3.0}, "exactly one"),
    ({"log_sigma": -1000.0, "method": "direct"}, "method='hybrid'"),
    ({"sigma": 1e-200, "method": "direct"}, "needs sigma >= 1.49e-154"),
    ({"sigma": 1e-3, "method": "exact"}, "'hybrid' or 'direct'"),
    ({"sigma": 1e-3, "step_size": -1.0}, "step_size"),
    ({"sigma": 1e-3, "tolerances": Tolerances}, "Tolerances"),
])
def test_bad_input_is_refused(kwargs, message):
    problem = OrthogonalProblem([1.0, -1.0])
    init = Initialization([[0.5, 0.5]], [1.0])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("'", "'")):
        simulate_finite(problem, init, **kwargs)


def test_sigma_that_is_not_a_number_is_a_type_error():
    problem = OrthogonalProblem([1.0, -1.0])
    init = Initialization([[0.5, 0.5]], [1.0])
    with pytest.raises(TypeError, match="sigma must be a real number"):
        simulate_finite(problem, init, sigma="0.1")
    run = simulate_finite(problem, init, sigma=np.float32(1e-3), step_size=np.array(0.5))
    assert run.log_sigma == pytest.approx(np.log(np.float32(1e-3)))


def test_tolerances_are_checked():
    with pytest.raises(ValueError, match="delta"):
        Tolerances(delta=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        Tolerances(max_steps=0)


def test_sigma_for_limit_brackets_the_threshold():
    problem = make_problem(12, "gaussian", seed=0)
    init = sample_initialization(problem, 6, "balanced", seed=1)
    trajectory = simulate(problem, init, 0.5)
    answer = limit_threshold(problem, init, 0.5)
    assert answer.log_sigma is not None and answer.log_sigma < -1.0
    assert sigma_for_limit(problem, init, 0.5) == answer.log_sigma
    # The bisection's failing end lies within its precision above ln σ* (reproduction need
    # not be monotone further up), and runs below ln σ* reproduce the limit.
    failing = [ls for ls, ok in answer.checked if not ok and ls > answer.log_sigma]
    assert failing and max(failing) >= answer.log_sigma * (1 - 2e-3)
    for log_sigma, expected in ((max(failing), False), (answer.log_sigma, True), (answer.log_sigma * 3, True),
                                (-1e5, True)):
        run = simulate_finite(problem, init, log_sigma=log_sigma, step_size=0.5)
        assert run.compare_limit(trajectory).reproduces_all is expected, log_sigma


def test_sigma_for_limit_at_an_overlapping_tie_says_why():
    problem = make_problem(8, "sign-balanced", seed=0)
    init = sample_initialization(problem, 5, "balanced", seed=1)
    assert simulate(problem, init, 0.5).ambiguous
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sigma_for_limit(problem, init, 0.5) is None
    assert any(issubclass(w.category, LimitNotReproducedWarning) and "overlapping tie" in str(w.message)
               for w in caught)
