"""``simulate(..., ties="joint")``: overlapping ties resolved by the joint escape (docs/math/ties.rst).

Checked against independent computations: a symmetric instance solved by hand, and the
finite-σ hybrid engine (``simulate_finite``) at ln σ = −1e4 and −1e5 on random ±1 instances.
"""

import numpy as np
import pytest

from jumpprocess import Initialization, OrthogonalProblem, make_problem, sample_initialization, simulate, simulate_finite
from jumpprocess.limit.ties import tie_components
from jumpprocess.limit.trajectory import Trajectory


def _instances(count, *, ambiguous, step_size=None, start=0):
    """Seeded random ±1 instances (unit norms, n <= 30, balanced init) with or without an overlapping tie."""
    out, seed = [], start
    while len(out) < count:
        rng = np.random.default_rng(seed)
        n, m = int(rng.integers(4, 31)), int(rng.integers(2, 12))
        problem = make_problem(n, "sign-balanced", seed=seed)
        init = sample_initialization(problem, m, "balanced", seed=seed + 1000)
        if simulate(problem, init, step_size, ties="index").ambiguous == ambiguous:
            out.append((problem, init))
        seed += 1
    return out


def _outputs(a, U):
    return (np.asarray(a)[:, None] * np.maximum(np.asarray(U), 0.0)).sum(axis=0)


def _symmetric():
    """Two mirror-image neurons on labels (1, 1, 1): good sets {0, 1} and {1, 2}, rates √2/3, a tie sharing sample 1."""
    return OrthogonalProblem([1.0, 1.0, 1.0]), Initialization([[1.0, 1.0, -1.0], [-1.0, 1.0, 1.0]], [1.0, 1.0])


def test_ties_must_be_index_or_joint():
    problem, init = _symmetric()
    with pytest.raises(ValueError, match="ties must be 'index'"):
        simulate(problem, init, ties="lowest")
    for bad in ("Joint", 1, ""):
        with pytest.raises(ValueError, match="ties must be"):
            simulate(problem, init, ties=bad)


def test_default_is_joint_for_flow_and_index_for_descent():
    # Under gradient flow the default is the determined limit; under gradient descent, where an
    # overlapping tie has no σ→0 limit (docs/math/ties.rst), the convention (flagged ambiguous).
    problem, init = _symmetric()
    default, joint = simulate(problem, init), simulate(problem, init, ties="joint")
    assert default.ties == "joint" and not default.ambiguous
    assert default.to_dict() == joint.to_dict()
    descent = simulate(problem, init, 0.5)
    assert descent.ties == "index" and descent.ambiguous
    assert descent.to_dict() == simulate(problem, init, 0.5, ties="index").to_dict()


def test_symmetric_tie_by_hand():
    # By symmetry each neuron takes half of sample 1: a U_0 = 1 on its own sample, 2 a U_1 = 1 on
    # the shared one, and balance a² = U_0² + U_1² gives a⁴ = 5/4, squared norm 4 a² = 2√5.
    # The index convention gives neuron 0 the set {0, 1}: 2√2 + 2.
    problem, init = _symmetric()
    index, joint = simulate(problem, init, ties="index"), simulate(problem, init, ties="joint")
    assert index.ambiguous and index.squared_norm == pytest.approx(2 * np.sqrt(2) + 2, rel=1e-12)
    assert not joint.ambiguous and joint.ties == "joint"
    assert joint.squared_norm == pytest.approx(2 * np.sqrt(5), rel=1e-6)
    a = (5 / 4) ** 0.25
    a_end, U_end = joint.parameters_at(np.inf)
    np.testing.assert_allclose(a_end, [a, a], rtol=1e-6)
    np.testing.assert_allclose(U_end, [[1 / a, 1 / (2 * a), 0], [0, 1 / (2 * a), 1 / a]], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(joint.joint[0].shares, [[1, 0.5, 0], [0, 0.5, 1]], atol=1e-6)
    # the loss path and times are the race's
    np.testing.assert_array_equal(joint.jump_times, index.jump_times[:1].repeat(joint.num_jumps))
    np.testing.assert_array_equal(joint.plateau_losses[[0, -1]], index.plateau_losses[[0, -1]])
    # local rate: smallest eigenvalue of (B Bᵀ + D)/n built by hand from the saddle
    B = np.array([[1 / a, 0], [1 / (2 * a), 1 / (2 * a)], [0, 1 / a]])
    D = np.diag([a * a, 2 * a * a, a * a])
    assert joint.convergence_rate == pytest.approx(np.linalg.eigvalsh((B @ B.T + D) / 3)[0], rel=1e-6)
    # before the jump nothing is active
    a0, U0 = joint.parameters_at(1.0)
    assert not a0.any() and not U0.any()


def test_tie_components_join_overlapping_sets():
    G = np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1]], dtype=bool)
    assert tie_components(G, np.ones(5, dtype=bool), [0, 1, 2, 3, 4]) == [[0, 1, 3], [2, 4]]
    # overlaps are on the remaining set only
    remaining = np.array([1, 0, 1, 1, 1], dtype=bool)
    assert tie_components(G, remaining, [0, 1, 2, 3, 4]) == [[1, 3], [2, 4]]


def test_no_overlapping_tie_gives_todays_trajectory():
    for problem, init in _instances(6, ambiguous=False):
        index, joint = simulate(problem, init, ties="index"), simulate(problem, init, ties="joint")
        expected, got = index.to_dict(), joint.to_dict()
        assert got.pop("ties") == "joint" and expected.pop("ties") == "index"
        assert got == expected
        assert joint.joint == ()


@pytest.mark.parametrize("log_sigma", [-1e4, -1e5])
def test_joint_limit_agrees_with_finite_sigma(log_sigma):
    for problem, init in _instances(4, ambiguous=True):
        joint = simulate(problem, init, ties="joint")
        run = simulate_finite(problem, init, log_sigma=log_sigma)
        assert not joint.ambiguous and joint.joint
        a, U = joint.parameters_at(np.inf)
        out = _outputs(run.output_weights, run.preactivations)
        np.testing.assert_allclose(_outputs(a, U), out, atol=1e-4)
        np.testing.assert_array_equal(np.flatnonzero(joint.fitted_by >= 0), np.flatnonzero(run.fitted_by >= 0))
        norm = float(np.sum(run.output_weights**2) + np.sum((run.preactivations / problem.norms) ** 2))
        assert joint.squared_norm == pytest.approx(norm, abs=1e-4)
        np.testing.assert_array_equal(joint.fitted_by, run.fitted_by)


def test_joint_json_round_trip_and_end_state():
    (problem, init), = _instances(1, ambiguous=True)
    joint = simulate(problem, init, ties="joint")
    back = Trajectory.from_json(joint.to_json())
    assert back.ties == "joint" and not back.ambiguous and len(back.joint) == len(joint.joint)
    assert back.squared_norm == joint.squared_norm
    for x, y in zip(back.parameters_at(np.inf), joint.parameters_at(np.inf)):
        np.testing.assert_array_equal(x, y)
    a, U = joint.parameters_at(np.inf)
    np.testing.assert_array_equal(a, joint.output_weights)
    assert joint.squared_norm == pytest.approx(float(np.sum(a**2) + np.sum((U / problem.norms) ** 2)), rel=1e-12)
    assert "joint escape" in joint.status and "ambiguous" not in joint.status


def test_index_end_state_is_the_last_saddle():
    (problem, init), = _instances(1, ambiguous=True)
    index = simulate(problem, init, ties="index")
    a, U = index.parameters_at(np.inf)
    fitted = np.flatnonzero(index.fitted_by >= 0)
    np.testing.assert_allclose(_outputs(a, U)[fitted], problem.labels[fitted], rtol=1e-12)
    assert index.squared_norm == pytest.approx(float(np.sum(a**2) + np.sum(U**2)), rel=1e-12)


def test_joint_refused_for_gradient_descent_ties():
    (problem, init), = _instances(1, ambiguous=True, step_size=0.5)
    with pytest.raises(ValueError, match="gradient flow only"):
        simulate(problem, init, 0.5, ties="joint")
    (problem, init), = _instances(1, ambiguous=False, step_size=0.5)
    assert simulate(problem, init, 0.5, ties="joint").events == simulate(problem, init, 0.5).events


def test_joint_escape_reintegrated_independently():
    # The escape itself, integrated by scipy (DOP853, every neuron, no small/large split) from the
    # finite-σ state 25/λ before the group's first half-fit, ends at the joint jump's saddle.
    from scipy.integrate import solve_ivp

    (problem, init), = _instances(1, ambiguous=True)
    joint = simulate(problem, init, ties="joint")
    jump = joint.joint[0]
    rate = float(joint.rates[int(np.flatnonzero(joint.jump_times == jump.time)[0]), jump.neurons].max())
    whole = simulate_finite(problem, init, log_sigma=-1e6)
    start = float(np.nanmin(whole.half_fit_times[jump.fitted])) - 25.0 / rate
    a0, U0 = simulate_finite(problem, init, log_sigma=-1e6, stop_time=start).parameters_at(start)
    y, s, n, m = problem.labels, problem.norms, problem.n, init.m

    def field(t, x):  # docs/math/reduction.rst, in z = U/s
        a, z = x[:m], x[m:].reshape(m, n)
        rz = np.maximum(z, 0.0)
        r = y - (a[:, None] * rz * s).sum(axis=0)
        return np.concatenate([(rz * (r * s)).sum(axis=1) / n, ((a[:, None] * (z > 0)) * (r * s) / n).ravel()])

    sol = solve_ivp(field, (0.0, 60.0 / rate + 2000.0), np.concatenate([a0, (U0 / s).ravel()]), method="DOP853",
                    rtol=1e-11, atol=1e-14)
    a, U = sol.y[:m, -1], sol.y[m:, -1].reshape(m, n) * s
    np.testing.assert_allclose(a[jump.neurons], jump.output_weights, atol=1e-6)
    np.testing.assert_allclose(U[np.ix_(jump.neurons, jump.fitted)], jump.preactivations, atol=1e-6)


def test_simulate_many_joint_recomputes_only_tied_trials():
    # simulate_many(ties="joint") against simulate(..., ties=...) trial by trial (weights sampling).
    from jumpprocess import simulate_many
    from jumpprocess.scale.batch import trial_initialization

    problem = make_problem(12, "sign-balanced", seed=5)
    index = simulate_many(problem, 6, 40, seed=3, sampling="weights")
    joint = simulate_many(problem, 6, 40, seed=3, sampling="weights", ties="joint")
    assert index.ties == "index" and joint.ties == "joint"
    assert index.ambiguous.sum() >= 3  # the instance family does tie (else this checks nothing)
    for t in range(40):
        init = trial_initialization(problem, index, t)
        expected = simulate(problem, init, ties="joint")
        assert joint.squared_norm[t] == pytest.approx(expected.squared_norm, rel=1e-12)
        assert joint.ambiguous[t] == expected.ambiguous
        if not index.ambiguous[t]:
            assert joint.squared_norm[t] == index.squared_norm[t]
    np.testing.assert_array_equal(joint.interpolates, index.interpolates)
    np.testing.assert_array_equal(joint.num_jumps, index.num_jumps)
    with pytest.raises(ValueError, match="gradient flow only"):
        simulate_many(problem, 6, 4, step_size=0.5, ties="joint")
    with pytest.raises(ValueError, match="ties must be"):
        simulate_many(problem, 6, 4, ties="first")


def test_a_joint_escape_that_cannot_be_computed_leaves_the_convention_flagged(monkeypatch):
    # If the finite-σ run fails, simulate still returns the race's trajectory: the tie keeps
    # the index convention, stays ambiguous, and a warning says why (never a silent number).
    import jumpprocess.finite.engine as engine

    def broken(*args, **kwargs):
        raise RuntimeError("step budget exhausted")

    monkeypatch.setattr(engine, "simulate_finite", broken)
    problem, init = _symmetric()
    with pytest.warns(RuntimeWarning, match="step budget exhausted"):
        joint = simulate(problem, init)
    index = simulate(problem, init, ties="index")
    assert joint.ambiguous and joint.joint == () and joint.events == index.events
    assert joint.squared_norm == index.squared_norm


def test_the_finite_run_reproduces_the_joint_limit_and_sigma_for_limit_finds_it():
    # compare_limit: tied jumps share one τ and may come in any order among themselves; the
    # joint limit's per-neuron fitted sets (largest share) are those of the run at small σ.
    from jumpprocess import sigma_for_limit

    for problem, init in _instances(3, ambiguous=True):
        joint = simulate(problem, init)
        assert not joint.ambiguous
        assert simulate_finite(problem, init, log_sigma=-1e5).compare_limit(joint).reproduces_all
    problem, init = _instances(1, ambiguous=True, start=14)[0]
    threshold = sigma_for_limit(problem, init)
    assert threshold is not None
    assert simulate_finite(problem, init, log_sigma=threshold).compare_limit(simulate(problem, init)).reproduces_all


def test_joint_saddles_are_critical_points_of_the_network():
    """Every plateau of a joint trajectory, the joint escapes' end states included, is a
    critical point of the real network's loss on orthogonal inputs, to the accuracy of the
    finite run behind the joint escape (measured: 1e-10 of the scale on 107 trajectories;
    the race's own saddles are exact to rounding, tests/test_trajectory.py)."""
    found = 0
    for n in (8, 12, 20):
        problem = make_problem(n, "sign-balanced", seed=n)
        X = np.hstack([np.diag(problem.norms), np.zeros((n, 2))])
        y = problem.labels
        for seed in range(30):
            traj = simulate(problem, sample_initialization(problem, 6, "balanced", seed=seed))
            if not traj.joint:
                continue
            found += 1
            for tau in list(traj.jump_times) + [np.inf]:
                a, _ = traj.parameters_at(tau)
                pre = traj.input_weights_at(tau, inputs=X) @ X.T
                residual = y - a @ np.maximum(pre, 0.0)
                grad_a = (np.maximum(pre, 0.0) @ residual) / n
                grad_W = ((a[:, None] * (pre > 0)) * residual[None, :]) @ X / n
                scale = 1.0 + np.abs(y).max() * (1 + np.abs(a).max()) * X.max()
                assert max(np.abs(grad_a).max(), np.abs(grad_W).max()) <= 1e-8 * scale
    assert found >= 10


def test_a_joint_escape_checked_before_it_converged_is_run_again_further_apart(monkeypatch):
    # The run is stopped half-way to the next activation; at ln σ = −8 that comes before the
    # joint escape has converged, so the check against the race fails. The one retry at ten
    # times ln σ (found at n = 10⁵ with ln σ = −10⁶, where the next activation followed the
    # tie within Δτ = 0.01) resolves it, and its split is the limit's.
    from jumpprocess.limit import ties

    problem, init = _instances(1, ambiguous=True)[0]
    index = simulate(problem, init, ties="index")
    monkeypatch.setattr(ties, "RETRY_LOG_SIGMA_FACTOR", 1.0)  # a retry at the same σ fails the same way
    assert ties.resolve_ties(index, init, log_sigma=-8.0).ambiguous
    monkeypatch.setattr(ties, "RETRY_LOG_SIGMA_FACTOR", 10.0)
    retried = ties.resolve_ties(index, init, log_sigma=-8.0)
    limit = ties.resolve_ties(index, init)  # ln σ = −10⁶, converged at the first try
    assert not retried.ambiguous and not limit.ambiguous
    assert retried.squared_norm == pytest.approx(limit.squared_norm, rel=1e-8)
    assert abs(limit.squared_norm - index.squared_norm) > 0.1
