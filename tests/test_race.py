"""The exponent race (docs/math/race.rst, docs/math/ties.rst): fast engine against the literal reference, ties, layout."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from jumpprocess import Initialization, OrthogonalProblem, Status, make_problem, sample_initialization, simulate
from jumpprocess.limit.race import count_rows, pack_neuron_bits, run_race
from reference_impl import race as reference_race
from strategies import initializations, problems


@given(st.data(), st.sampled_from([None, 0.3, 3.0]))
def test_race_matches_literal_reference(data, step):
    problem = data.draw(problems())
    init = data.draw(initializations(problem, max_m=10))
    # The race itself: "joint" (the flow default) rewrites overlapping ties from a finite run.
    traj = simulate(problem, init, step_size=step, ties="index")
    jumps, exponents = reference_race(traj.good_sets, problem.labels, problem.norms, step)
    assert traj.neurons.tolist() == [k for _, k, _ in jumps]
    np.testing.assert_allclose(traj.jump_times, [t for t, _, _ in jumps], rtol=1e-12)
    for fitted, (_, _, ref) in zip(traj.fitted, jumps):
        np.testing.assert_array_equal(fitted, ref)
    if traj.num_jumps:
        np.testing.assert_allclose(traj.exponents[-1], exponents, rtol=1e-10, atol=1e-12)


@given(st.integers(1, 70), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_bit_packing_matches_numpy(m, n, seed):
    good = np.random.default_rng(seed).random((m, n)) < 0.5
    np.testing.assert_array_equal(pack_neuron_bits(good), np.packbits(good, axis=0, bitorder="little"))
    np.testing.assert_array_equal(count_rows(good), good.sum(axis=1))


def test_first_jump_is_the_fastest_rate_and_times_are_exact():
    """Hand-computed: rates λ = ||v_G||/n, first time 1/λ_max, then e_j advances (docs/math/race.rst)."""
    problem = OrthogonalProblem([3.0, 4.0, -1.0, 2.0])
    # ā_j = ±||Ū_j|| = ±2: balanced, so G_j = {Ū_ji > 0, sgn_j y_i > 0}
    init = Initialization([[1, 1, -1, -1], [-1, 1, 1, 1], [-1, -1, 1, -1]], [2.0, -2.0, -2.0])
    traj = simulate(problem, init)
    # G_0 = {0, 1}: λ_0 = √(9+16)/4 = 5/4. G_1 = G_2 = {2}: λ = 1/4, an overlapping tie at
    # τ = 4 between identical remaining sets (the function is determined, the fitting
    # neuron is the lowest index by convention); sample 3 (y = 2) is in no good set.
    assert traj.neurons.tolist() == [0, 1]
    assert traj.jump_times[0] == pytest.approx(4 / 5, rel=1e-15)
    assert traj.jump_times[1] == pytest.approx(4.0, rel=1e-15)
    assert traj.events[1].tied_with == (2,) and traj.events[1].overlapping
    assert traj.identical_ties and not traj.ambiguous and "identical remaining sets" in traj.status
    assert traj.uncovered.tolist() == [3]


def test_disjoint_tie_activates_both_and_is_not_ambiguous():
    problem = OrthogonalProblem([1.0, -1.0])
    init = Initialization([[1.0, -1.0], [-1.0, 1.0]], [1.0, -1.0])
    traj = simulate(problem, init)
    assert traj.num_jumps == 2 and traj.jump_times[0] == traj.jump_times[1] == 2.0
    assert traj.events[0].tied_with == (1,) and not traj.events[0].overlapping
    assert not traj.ambiguous and traj.status == "interpolated"


def test_sign_labels_ties_are_exact_not_noise():
    """±1 labels, unit norms (docs/math/ties.rst): equal counts give bit-identical times, reported as ties."""
    problem = make_problem(64, "sign-balanced", seed=0)
    rng = np.random.default_rng(1)
    U = rng.standard_normal((2, 64))
    U[1] = U[0]  # two neurons with the same good set: an exact overlapping tie
    a = np.array([1.0, 1.0]) * np.linalg.norm(U, axis=1)
    traj = simulate(problem, Initialization(U, a))
    assert traj.events[0].tied_with == (1,)
    assert traj.identical_ties and not traj.ambiguous


def test_neuron_whose_set_is_taken_never_activates():
    problem = OrthogonalProblem([1.0, 1.0, 1.0])
    init = Initialization([[1, 1, 1], [1, -1, -1]], [2.0, 2.0])
    traj = simulate(problem, init)
    assert traj.neurons.tolist() == [0]
    assert traj.exponents[-1][1] < 0


def test_large_instance_agrees_with_reference_race():
    problem = make_problem(400, "gaussian", seed=5, random_norms=True)
    init = sample_initialization(problem, 24, "gaussian", seed=6)
    traj = simulate(problem, init)
    jumps, _ = reference_race(traj.good_sets, problem.labels, problem.norms)
    assert [k for _, k, _ in jumps] == traj.neurons.tolist()
    # late jumps have e_j = -1 + Σ λ Δτ close to 0: cancellation; agree to the tie tolerance
    np.testing.assert_allclose([t for t, _, _ in jumps], traj.jump_times, rtol=1e-9)


def test_empty_width_and_run_race_direct():
    problem = make_problem(5)
    traj = simulate(problem, sample_initialization(problem, 0))
    assert traj.num_jumps == 0 and not traj.interpolates
    assert traj.plateau_losses.tolist() == [0.5]
    result = run_race(np.zeros((3, 5), bool), np.ones(5), 5)
    assert result.events == () and result.exponents.shape == (0, 3)


def test_remaining_sums_survive_cancellation():
    """Review counter-example: after neuron 1 fits sample 0, S_0 = (1e10 + 1e-10) − 1e10
    computed to 0 with sample 1 left, and neuron 0 'jumped' at τ = inf (exactly: 14.9989)."""
    labels = np.array([1e5, 1e-5, 1e3])
    good = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)
    result = run_race(good, labels**2, 3)
    jumps, _ = reference_race(good, labels, np.ones(3))
    assert [e.neuron for e in result.events] == [k for _, k, _ in jumps]
    assert all(np.isfinite(e.time) for e in result.events)
    np.testing.assert_allclose([e.time for e in result.events], [t for t, _, _ in jumps], rtol=1e-9)


def test_identical_set_ties_are_flagged_as_determined():
    problem = OrthogonalProblem([1.0, 1.0, -1.0])
    same = Initialization([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0]], [2.0, 2.0])
    traj = simulate(problem, same)
    # the function is determined: not ambiguous, flagged as an identical-set tie instead
    assert not traj.ambiguous and traj.identical_ties and traj.events[0].identical and traj.function_determined
    assert traj.status_code is Status.STALLED and "ambiguous" not in traj.status  # sample 2 is uncovered
    assert "identical remaining sets" in traj.status and traj.status.endswith("uncovered")
    partial = Initialization([[1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]], [2.0, 2.0, 2.0])
    # neuron 0: {0, 1} (rate √2/3) jumps first; then 1 and 2 each have nothing left
    assert simulate(problem, partial).function_determined
    t2 = simulate(OrthogonalProblem([1.0, 1.0, -1.0, 1.0]), Initialization(
        [[1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]], [2.0, 2.0]), ties="index")
    # G_0 = {0, 1}, G_1 = {0, 3}: equal rates, overlapping on sample 0, not identical
    assert t2.ambiguous and not t2.events[0].identical and not t2.function_determined and not t2.identical_ties
    assert t2.status_code is Status.AMBIGUOUS and t2.status.startswith("ambiguous tie at τ = ")


@given(st.integers(1, 70), st.sampled_from([1, 7, 100, 255, 256, 3000, 8191, 8192, 9001]), st.integers(0, 2**32 - 1))
def test_count_and_sum_evaluations_agree(m, width, seed):
    """The three histogram evaluations and the popcount one give the same per-neuron sums."""
    from jumpprocess.limit.race import _byte_row_sums, _row_counts

    rng = np.random.default_rng(seed)
    good = rng.random((m, width)) < 0.3
    packed = pack_neuron_bits(good)
    weights = rng.integers(1, 5, width).astype(float)
    np.testing.assert_array_equal(_row_counts(packed, m), good.sum(axis=1))
    np.testing.assert_array_equal(_byte_row_sums(packed, None, m), good.sum(axis=1))
    np.testing.assert_array_equal(_byte_row_sums(packed, weights, m), good.astype(float) @ weights)
