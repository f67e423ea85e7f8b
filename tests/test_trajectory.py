"""Trajectory invariants (docs/math/race.rst, docs/math/saddles.rst, docs/math/ties.rst), evaluation at any τ, and JSON round trip."""

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from jumpprocess import Trajectory, make_problem, random_orthogonal_inputs, sample_initialization, simulate, OrthogonalProblem
from strategies import initializations, problems


def _random_case(data, max_m=10):
    """A random trajectory of the race itself (ties="index"): these properties are those of
    its closed-form saddles, exact to rounding. The joint escape of an overlapping tie comes
    from a finite run and is checked in tests/test_ties.py to its own accuracy."""
    problem = data.draw(problems())
    init = data.draw(initializations(problem, max_m=max_m))
    step = data.draw(st.sampled_from([None, None, 0.5, 2.0]))
    return problem, init, simulate(problem, init, step_size=step, ties="index")


@given(st.data())
def test_plateau_losses_decrease_and_fitted_sets_are_disjoint(data):
    problem, _, traj = _random_case(data)
    assert len(traj.plateau_losses) == traj.num_jumps + 1
    assert np.all(np.diff(traj.plateau_losses) < 0)  # each jump fits ≥ 1 nonzero label
    assert np.all(np.diff(traj.jump_times) >= 0) and np.all(traj.jump_times > 0)
    seen = np.concatenate(traj.fitted) if traj.num_jumps else np.array([], int)
    assert seen.size == np.unique(seen).size
    assert len(set(traj.neurons.tolist())) == traj.num_jumps  # one activation per neuron
    for k, f in zip(traj.neurons, traj.fitted):
        assert traj.good_sets[k, f].all() and np.all(problem.labels[f] != 0)
    assert traj.plateau_losses[0] == pytest.approx(np.sum(problem.labels**2) / (2 * problem.n))


@given(st.data())
def test_interpolation_iff_coverage(data):
    problem, _, traj = _random_case(data)
    covered = traj.good_sets.any(axis=0) | (problem.labels == 0)
    assert traj.interpolates == bool(covered.all())
    assert traj.uncovered.tolist() == np.flatnonzero(~covered).tolist()
    assert (traj.plateau_losses[-1] == 0.0) == traj.interpolates


@given(st.data())
def test_saddles_are_critical_points_in_input_space(data):
    """At every plateau the real network's loss gradient vanishes (docs/math/saddles.rst).

    The saddle sits on the ReLU kink (U_ki = 0 off F_k, where relu'(0) = 0), so X must
    represent orthogonality exactly: rows diag(s) padded with zeros. A rotated X would
    put W xᵢ at ±1e-17 instead of 0 and switch the kink on by rounding."""
    problem, init, traj = _random_case(data, max_m=6)
    X = np.hstack([np.diag(problem.norms), np.zeros((problem.n, 2))])
    y = problem.labels
    for tau in list(traj.jump_times) + [np.inf]:
        a, _ = traj.parameters_at(tau)
        W = traj.input_weights_at(tau, inputs=X)
        pre = W @ X.T  # (m, n)
        residual = y - a @ np.maximum(pre, 0.0)
        grad_a = -(np.maximum(pre, 0.0) @ residual) / problem.n
        grad_W = -((a[:, None] * (pre > 0)) * residual[None, :]) @ X / problem.n
        scale = 1.0 + np.abs(y).max() * (1 + np.abs(a).max(initial=0.0)) * X.max()
        assert np.abs(grad_a).max(initial=0.0) <= 1e-12 * scale
        assert np.abs(grad_W).max(initial=0.0) <= 1e-12 * scale
        # plateau loss equals the network's loss at the saddle
        assert traj.loss_at(tau) == pytest.approx(np.sum(residual**2) / (2 * problem.n), rel=1e-12, abs=1e-15)


@given(st.data())
def test_closed_form_norms(data):
    """a_k² = ||w_k||² = (Σ_F y²/s²)^{1/2} and the total is 2 Σ_k ||(y/s)_F|| ≥ minimal (docs/math/saddles.rst, docs/math/implicit-bias.rst)."""
    problem, _, traj = _random_case(data)
    X = random_orthogonal_inputs(problem.n, problem.n, np.random.default_rng(1), problem.norms)
    a, _ = traj.parameters_at(np.inf)
    W = traj.input_weights_at(np.inf, inputs=X)
    np.testing.assert_allclose(a**2, np.sum(W**2, axis=1), rtol=1e-10, atol=1e-300)
    assert traj.squared_norm == pytest.approx(np.sum(a**2) + np.sum(W**2), rel=1e-10)
    if traj.interpolates:
        assert traj.squared_norm >= traj.min_squared_norm * (1 - 1e-12)


@given(st.data())
def test_json_round_trip_is_lossless(data):
    _, _, traj = _random_case(data)
    back = Trajectory.from_json(traj.to_json())
    assert back.jump_times.tobytes() == traj.jump_times.tobytes()
    assert back.exponents.tobytes() == traj.exponents.tobytes()
    assert back.rates.tobytes() == traj.rates.tobytes()
    assert back.problem.labels.tobytes() == traj.problem.labels.tobytes()
    assert back.events == traj.events and back.step_size == traj.step_size
    np.testing.assert_array_equal(back.good_sets, traj.good_sets)
    np.testing.assert_array_equal(back.signs, traj.signs)
    assert back.to_json() == traj.to_json()


def test_loss_at_left_and_right_limits_and_vectorization():
    problem = make_problem(60, "gaussian", seed=2)
    traj = simulate(problem, sample_initialization(problem, 12, seed=3))
    t = traj.jump_times
    for k, tk in enumerate(t):
        if k + 1 < len(t) and t[k + 1] == tk:
            continue
        last = np.flatnonzero(t == tk)[-1]
        first = np.flatnonzero(t == tk)[0]
        assert traj.loss_at(tk, side="left") == traj.plateau_losses[first]
        assert traj.loss_at(tk, side="right") == traj.plateau_losses[last + 1]
    grid = np.linspace(0, t[-1] * 1.5, 101)
    np.testing.assert_array_equal(traj.loss_at(grid), [traj.loss_at(float(g)) for g in grid])
    assert traj.loss_at(0.0) == traj.plateau_losses[0]
    assert traj.loss_at(np.inf) == traj.plateau_losses[-1]
    with pytest.raises(ValueError, match="side"):
        traj.loss_at(1.0, side="middle")
    with pytest.raises(ValueError, match="τ must be >= 0"):
        traj.loss_at(-1.0)
    a0, U0 = traj.parameters_at(0.0)
    assert not a0.any() and not U0.any()


def test_gradient_descent_times_are_longer_and_converge_to_flow():
    """Rates ln(1+ηλ)/η < λ: the first GD jump is later; GD times → flow times as η → 0.

    (Later GD jumps may come *earlier* than the flow's: a neuron whose set is not yet
    fitted keeps its larger rate for longer. Only the first jump is monotone in η.)"""
    problem = make_problem(50, "gaussian", seed=7)
    init = sample_initialization(problem, 10, "balanced", seed=8)
    flow = simulate(problem, init)
    errors = []
    for eta in (1.0, 0.1, 0.01, 0.001):
        gd = simulate(problem, init, step_size=eta)
        assert gd.jump_times[0] > flow.jump_times[0]
        if eta <= 0.1:
            assert gd.neurons.tolist() == flow.neurons.tolist()
        errors.append(np.max(np.abs(gd.jump_times - flow.jump_times)))
    # first order in η: each tenfold smaller step cuts the error by ≈ 10
    assert all(later < 0.2 * earlier for earlier, later in zip(errors, errors[1:]))


def test_convergence_rate_matches_dense_eigenvalues():
    problem = make_problem(40, "gaussian", seed=9, random_norms=True)
    traj = simulate(problem, sample_initialization(problem, 8, seed=10))
    y, s, n = problem.labels, problem.norms, problem.n
    best = np.inf
    for k, f in zip(traj.neurons, traj.fitted):
        a2 = traj.output_weights[k] ** 2
        K = (np.outer(y[f], y[f]) / a2 + a2 * np.diag(s[f] ** 2)) / n
        best = min(best, np.linalg.eigvalsh(K)[0])
    assert traj.convergence_rate == pytest.approx(best, rel=1e-9)


def test_unit_norm_sign_labels_rate_is_norm_over_n():
    """docs/math/saddles.rst: unit norms, |F| >= 2: λ_min(K_F) = ||y_F|| / n = √|F| / n for ±1 labels."""
    problem = OrthogonalProblem([1.0, 1.0, 1.0, 1.0])
    from jumpprocess import Initialization
    traj = simulate(problem, Initialization([[1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, -1.0, 1.0]], [2.0, -2.0]))
    assert traj.fitted[0].tolist() == [0, 1, 2]
    assert traj.convergence_rate == pytest.approx(np.sqrt(3) / 4, rel=1e-12)
    assert not traj.interpolates and traj.status == "stalled: samples 3 uncovered"


def test_unstable_gradient_descent_step_is_reported():
    """One sample, a = w = 1: K = 2|y|s/n = 2, so η = 1.5 gives η·λ_max = 3 ≥ 2 (docs/math/saddles.rst).

    Real gradient descent half-fits at the predicted time and then oscillates forever
    (found with jumpprocess.finite.reference at σ = 1e-32); the trajectory must say so."""
    from jumpprocess import Initialization, Status

    problem = OrthogonalProblem([1.0])
    init = Initialization([[1.0]], [1.0])
    stable = simulate(problem, init, step_size=0.9)
    assert stable.largest_kernel_eigenvalues.tolist() == pytest.approx([2.0], rel=1e-12)
    assert stable.status == "interpolated" and stable.unstable_jumps.size == 0
    unstable = simulate(problem, init, step_size=1.5)
    assert unstable.unstable_jumps.tolist() == [0]
    assert unstable.status_code is Status.UNSTABLE_STEP
    assert unstable.status.startswith("unstable step: η·λ_max(K_F) = 3 ≥ 2 at the saddle of jump 1")
    assert simulate(problem, init).unstable_jumps.size == 0  # gradient flow has no step


@given(st.data())
def test_largest_kernel_eigenvalue_matches_dense(data):
    """The race's saddles (one neuron per fitted set): the secular root against eigvalsh."""
    problem, _, traj = _random_case(data)
    y, s, n = problem.labels, problem.norms, problem.n
    for k, f, top in zip(traj.neurons, traj.fitted, traj.largest_kernel_eigenvalues):
        a2 = traj.output_weights[k] ** 2
        K = (np.outer(y[f], y[f]) / a2 + a2 * np.diag(s[f] ** 2)) / n
        assert top == pytest.approx(np.linalg.eigvalsh(K)[-1], rel=1e-9)


def test_joint_kernel_eigenvalue_is_the_networks_tangent_kernel():
    """A joint jump's λ_max against J Jᵀ/n of the real network on orthogonal inputs, with J
    the Jacobian of the outputs on the jump's samples in every parameter of its neurons
    (central differences of the network itself, not the reduced formula)."""
    problem = OrthogonalProblem.from_inputs(random_orthogonal_inputs(8, 8, np.random.default_rng(0)),
                                            [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0])
    found = 0
    for seed in range(40):
        init = sample_initialization(problem, 6, "balanced", seed=seed)
        traj = simulate(problem, init, ties="joint")
        if not traj.joint:
            continue
        X = problem.inputs
        for jump in traj.joint:
            rows = [int(j) for j in jump.neurons]
            a = np.asarray(jump.output_weights, dtype=float)
            # Input-space weights whose preactivations on the jump's samples are the end state
            # (a dead coordinate, 0 at the limit's saddle, just below 0 so that the network's
            # ReLU is flat there too) and 0 elsewhere: w_j = Σ_i U_ji x_i / s_i².
            Xf = X[jump.fitted]
            U = np.where(jump.preactivations > 0, jump.preactivations, -1e-3)
            Wj = (U / problem.norms[jump.fitted] ** 2) @ Xf

            def outputs(theta):
                aa, ww = theta[:len(rows)], theta[len(rows):].reshape(len(rows), -1)
                return np.maximum(Xf @ ww.T, 0.0) @ aa

            theta = np.concatenate([a, Wj.ravel()])
            h = 1e-6
            J = np.empty((len(jump.fitted), theta.size))
            for q in range(theta.size):
                e = np.zeros_like(theta)
                e[q] = h
                J[:, q] = (outputs(theta + e) - outputs(theta - e)) / (2 * h)
            dense = np.linalg.eigvalsh(J @ J.T / problem.n)[-1]
            members = [k for k, event in enumerate(traj.events) if event.neuron in rows]
            assert members
            for k in members:
                assert traj.largest_kernel_eigenvalues[k] == pytest.approx(dense, rel=1e-6)
            found += 1
        if found >= 3:
            break
    assert found >= 1


def test_json_round_trip_keeps_the_inputs():
    # Lossless means the inputs come back too: input-space weights need them.
    rng = np.random.default_rng(4)
    X = random_orthogonal_inputs(5, 7, rng, norms=rng.uniform(0.5, 2.0, 5))
    problem = OrthogonalProblem.from_inputs(X, [1.0, -2.0, 0.5, 1.5, -1.0])
    traj = simulate(problem, sample_initialization(problem, 6, "balanced", seed=3))
    back = Trajectory.from_json(traj.to_json())
    assert back.problem.inputs is not None
    assert np.array_equal(back.problem.inputs, X) and np.array_equal(back.problem.norms, problem.norms)
    for tau in (0.0, *traj.jump_times, np.inf):
        for side in ("left", "right"):
            assert np.array_equal(back.input_weights_at(tau, side), traj.input_weights_at(tau, side))
    assert back.to_json() == traj.to_json()
    plain = simulate(make_problem(5), sample_initialization(make_problem(5), 3, seed=1))
    assert Trajectory.from_json(plain.to_json()).problem.inputs is None
