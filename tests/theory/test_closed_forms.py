"""The SymPy derivations of the closed forms, their numerics, and the engine against them.

The expected formulas below are those of docs/math/saddles.rst and docs/math/implicit-bias.rst,
written independently of the code; the derivations must reproduce them, and the engine must
reproduce the derivations. Where
the engine's float arithmetic is exact (dyadic inputs) the comparison is exact; elsewhere
it is against an a-priori rounding bound, never a loose tolerance.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from theory_strategies import dyadic_groups

from jumpprocess import Initialization, OrthogonalProblem, simulate
from theory import closed_forms
from theory.closed_forms import Q, S, a, n, s, y

EPS = np.finfo(np.float64).eps
U_ROUND = EPS / 2  # unit roundoff


# ------------------------------------------------------------------ the derivations


def test_saddle_derivation_reproduces_the_documented_saddle():
    d = closed_forms.saddle_derivation()
    assert sp.simplify(d.preactivation_expr - y / a) == 0
    assert sp.simplify(d.output_weight_expr - Q ** sp.Rational(1, 4)) == 0
    assert sp.simplify(d.output_weight_expr**4 - Q) == 0  # a⁴ = Σ y²/s²
    assert sp.simplify(d.squared_norm_expr - 2 * sp.sqrt(Q)) == 0
    assert d.fitted_residual_expr == 0
    assert d.output_gradient_at_saddle == 0
    assert sp.simplify(d.plateau_loss_expr - S / (2 * n)) == 0
    # the stationarity equation solved is dL/du_j = a (a u_j − y_j) / n
    j = sp.Symbol("j", integer=True, positive=True)
    u_j, y_j = sp.IndexedBase("u", real=True)[j], sp.IndexedBase("y", real=True)[j]
    assert sp.simplify(d.preactivation_gradient_expr - a * (a * u_j - y_j) / n) == 0


def test_saddle_derivation_agrees_with_a_direct_solve_of_the_full_system():
    """Independent route: solve ∇L = 0 and balancedness jointly for two samples."""
    a_, u1, u2 = sp.Symbol("a", positive=True), *sp.symbols("u1 u2", real=True)
    y1, y2 = sp.symbols("y1 y2", real=True)
    s1, s2, n_ = sp.symbols("s1 s2 n", positive=True)
    loss = ((a_ * u1 - y1) ** 2 + (a_ * u2 - y2) ** 2) / (2 * n_)
    solutions = sp.solve([sp.diff(loss, u1), sp.diff(loss, u2), a_**2 - u1**2 / s1**2 - u2**2 / s2**2],
                         [a_, u1, u2], dict=True)
    solutions = [sol for sol in solutions if not sol[a_].has(sp.I)]  # SymPy also returns a = −i·(…)
    assert len(solutions) == 1
    derived = closed_forms.saddle_derivation().output_weight_expr.subs(Q, y1**2 / s1**2 + y2**2 / s2**2)
    assert sp.simplify(solutions[0][a_] ** 4 - derived**4) == 0
    assert sp.simplify(sp.diff(loss, a_).subs(solutions[0])) == 0


def test_tangent_kernel_derivation_reproduces_the_documented_block():
    d = closed_forms.tangent_kernel_derivation()
    y2 = sp.Symbol("y2", real=True)
    assert sp.simplify(d.diagonal_expr - (y**2 / a**2 + a**2 * s**2) / n) == 0
    assert sp.simplify(d.off_diagonal_expr - y * y2 / (a**2 * n)) == 0
    N, k = closed_forms.N, closed_forms.k_symbol
    assert d.unit_norm_eigenvalues == {N / n: k - 1, 2 * N / n: 1}  # smallest ||y_F||/n for |F| >= 2
    assert sp.simplify(d.single_sample_eigenvalue_expr - 2 * sp.Abs(y) * s / n) == 0


def test_tangent_kernel_derivation_is_independent_of_the_symbolic_size():
    small, large = closed_forms.tangent_kernel_derivation(2), closed_forms.tangent_kernel_derivation(4)
    assert sp.simplify(small.diagonal_expr - large.diagonal_expr) == 0
    assert sp.simplify(small.off_diagonal_expr - large.off_diagonal_expr) == 0
    assert small.unit_norm_eigenvalues == large.unit_norm_eigenvalues
    with pytest.raises(ValueError, match="size must be >= 2"):
        closed_forms.tangent_kernel_derivation(1)


def test_min_norm_derivation_optimality_conditions():
    d = closed_forms.min_norm_derivation()
    assert sp.simplify(d.optimal_output_weight_expr - Q ** sp.Rational(1, 4)) == 0
    assert sp.simplify(d.single_neuron_min_expr - 2 * sp.sqrt(Q)) == 0
    assert d.second_derivative_expr.is_positive  # strict minimum
    assert all(residual == 0 for residual in d.kkt_residuals) and len(d.kkt_residuals) == 5
    assert d.split_gap_squares_expr.is_nonnegative  # 8 √Q₁ √Q₂: splitting never helps
    q1, q2 = sp.symbols("Q_1 Q_2", positive=True)
    assert sp.simplify(d.split_gap_squares_expr - 8 * sp.sqrt(q1) * sp.sqrt(q2)) == 0
    qp, qm = sp.symbols("Q_plus Q_minus", nonnegative=True)
    assert sp.simplify(d.total_min_expr - 2 * (sp.sqrt(qp) + sp.sqrt(qm))) == 0


# ------------------------------------------------------------ numerics vs SymPy values

rationals = st.fractions(min_value=Fraction(-9), max_value=Fraction(9), max_denominator=16)
positive_rationals = st.fractions(min_value=Fraction(1, 16), max_value=Fraction(16), max_denominator=16)


@given(st.lists(st.tuples(rationals.filter(lambda q: q != 0), positive_rationals), min_size=1, max_size=8),
       st.integers(1, 50), st.sampled_from([1, -1]))
def test_numeric_functions_match_sympy_values(pairs, extra, sign):
    labels = [float(p) for p, _ in pairs]
    norms = [float(q) for _, q in pairs]
    n_samples = len(pairs) + extra
    q_exact = sum((sp.Rational(p) / sp.Rational(q)) ** 2 for p, q in pairs)
    d = closed_forms.saddle_derivation()
    a_exact = sign * d.output_weight_expr.subs(Q, q_exact)
    # a-priori bound: Q is a sum of k rounded quotients squared, rel. error <= (k + 1) u;
    # the 4th root divides it by 4 and adds one rounding.
    k = len(pairs)
    bound_a = (k + 1) * U_ROUND / 4 + 2 * U_ROUND
    a_num = closed_forms.saddle_output_weight(labels, norms, sign)
    assert abs(Fraction(a_num) - Fraction(str(sp.N(a_exact, 40)))) <= bound_a * abs(a_num)
    U = closed_forms.saddle_preactivations(labels, norms, sign)
    for value, (p, _) in zip(U, pairs):
        exact = sp.N(d.preactivation_expr.subs({y: sp.Rational(p), a: abs(a_exact)}) * sign, 40)
        assert abs(Fraction(float(value)) - Fraction(str(exact))) <= (bound_a + 2 * U_ROUND) * abs(value)
    norm_exact = sp.N(d.squared_norm_expr.subs(Q, q_exact), 40)
    assert abs(Fraction(closed_forms.neuron_squared_norm(labels, norms)) - Fraction(str(norm_exact))) <= (
        ((k + 1) * U_ROUND / 2 + 2 * U_ROUND) * float(norm_exact))
    s_exact = sum(sp.Rational(p) ** 2 for p, _ in pairs)
    loss_exact = sp.N(d.plateau_loss_expr.subs({S: s_exact, n: n_samples}), 40)
    assert abs(Fraction(closed_forms.plateau_loss(labels, n_samples)) - Fraction(str(loss_exact))) <= (
        (k + 2) * U_ROUND * float(loss_exact))


@given(st.lists(st.tuples(rationals.filter(lambda q: q != 0), positive_rationals), min_size=1, max_size=6),
       st.integers(0, 20))
def test_tangent_kernel_block_matches_the_symbolic_jacobian(pairs, extra):
    """Numeric block vs J Jᵀ/n of the real network, built here in SymPy at exact rationals."""
    k = len(pairs)
    n_samples = k + extra
    ys = [sp.Rational(p) for p, _ in pairs]
    ss = [sp.Rational(q) for _, q in pairs]
    a_exact = sp.root(sum((yi / si) ** 2 for yi, si in zip(ys, ss)), 4)
    ws = sp.symbols(f"w0:{k}")
    a_sym = sp.Symbol("a_")
    outputs = [a_sym * ws[i] * ss[i] for i in range(k)]  # a <w, s_i e_i>
    J = sp.Matrix(outputs).jacobian([a_sym, *ws])
    point = {a_sym: a_exact, **{ws[i]: ys[i] / (a_exact * ss[i]) for i in range(k)}}
    K = (J * J.T / n_samples).subs(point)
    expected = np.array(K.evalf(30).tolist(), dtype=float)
    block = closed_forms.tangent_kernel_block([float(v) for v in ys], [float(v) for v in ss], n_samples)
    assert np.all(np.abs(block - expected) <= 8 * (k + 4) * EPS * np.abs(expected).max())
    eigenvalues = closed_forms.tangent_kernel_eigenvalues([float(v) for v in ys], [float(v) for v in ss], n_samples)
    assert np.all(np.diff(eigenvalues) >= 0) and eigenvalues[0] > 0


def test_unit_norm_eigenvalues_follow_the_derived_formula():
    labels = np.array([1.0, -2.0, 0.5, 3.0])
    eigenvalues = closed_forms.tangent_kernel_eigenvalues(labels, None, 10)
    norm = np.linalg.norm(labels)
    np.testing.assert_allclose(eigenvalues, [norm / 10] * 3 + [2 * norm / 10], rtol=1e-14)


def test_min_squared_norm_is_one_neuron_per_sign_and_never_beaten_by_a_split():
    labels, norms = np.array([3.0, 4.0, -1.0, 0.0]), np.array([1.0, 2.0, 0.5, 1.0])
    # 2(||(y/s)+|| + ||(y/s)-||) = 2(√(9 + 4) + √4)
    assert closed_forms.min_squared_norm(labels, norms) == pytest.approx(2 * (np.sqrt(13) + 2), rel=1e-15)
    split = closed_forms.learned_squared_norm(labels, norms, [[0], [1], [2]])
    assert split > closed_forms.min_squared_norm(labels, norms)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="no saddle"):
        closed_forms.saddle_output_weight([0.0, 0.0])
    with pytest.raises(ValueError, match="sign"):
        closed_forms.saddle_output_weight([1.0], sign=2)
    with pytest.raises(ValueError, match="norms must be > 0"):
        closed_forms.saddle_output_weight([1.0], [0.0])
    with pytest.raises(ValueError, match="shape"):
        closed_forms.saddle_output_weight([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="n_samples"):
        closed_forms.plateau_loss([1.0, 2.0], 1)


# ------------------------------------------------------- the engine, exactly (docs/math/saddles.rst, docs/math/implicit-bias.rst)


def _dyadic_instance(groups, pad_to_power_of_two=True):
    """Problem with one disjoint group per neuron; zero labels pad n to a power of two."""
    labels = [float(v) for _, group, _ in groups for v in group]
    norms = [float(v) for _, _, group in groups for v in group]
    count = len(labels)
    n_total = 1 << (count - 1).bit_length() if pad_to_power_of_two else count
    labels += [0.0] * (n_total - count)
    norms += [1.0] * (n_total - count)
    m = len(groups)
    U = -np.ones((m, n_total)) * np.array(norms)
    start = 0
    for j, (_, group, _) in enumerate(groups):
        U[j, start:start + len(group)] *= -1.0  # Ū > 0 exactly on group j
        start += len(group)
    a = np.array([sign * (n_total + 1.0) for sign, _, _ in groups])  # sign-stable: ā² >= Σ_{Ū>0} (Ū/s)²
    return OrthogonalProblem(labels, norms), Initialization(U, a)


@settings(max_examples=150)
@given(dyadic_groups())
def test_engine_saddles_norms_and_losses_equal_the_sympy_values_exactly(groups):
    """Exact equality, not a tolerance: with labels ±2^e, norms 2^f and Q = 16^p per group,
    every quantity below is a dyadic rational of a few bits, so each float64 operation the
    engine performs (squares, quotients, sums of < 2^10 terms spanning < 40 binades, the
    4th root of 16^p, y / 2^p, division by a power-of-two n) is exact, and so must be its
    result. The SymPy side substitutes exact Rationals into the derived expressions."""
    problem, init = _dyadic_instance(groups)
    traj = simulate(problem, init)
    d = closed_forms.saddle_derivation()
    assert len(traj.events) == len(groups)
    start, starts = 0, []
    for _, group, _ in groups:
        starts.append(start)
        start += len(group)
    a_final, U_final = traj.parameters_at(np.inf)
    total_norm = sp.Integer(0)
    remaining = {i for i, v in enumerate(problem.labels) if v != 0}
    for event, loss in zip(traj.events, traj.plateau_losses[1:]):
        j = event.neuron
        sign, labels, norms = groups[j]
        assert list(event.fitted) == list(range(starts[j], starts[j] + len(labels)))
        q_exact = sum((sp.Rational(v) / sp.Rational(w)) ** 2 for v, w in zip(labels, norms))
        a_exact = sign * d.output_weight_expr.subs(Q, q_exact)
        assert a_exact.is_Rational
        assert sp.Rational(Fraction(a_final[j])) == a_exact
        for offset, v in enumerate(labels):
            u_exact = d.preactivation_expr.subs({y: sp.Rational(v), a: a_exact})
            assert sp.Rational(Fraction(U_final[j, starts[j] + offset])) == u_exact
        total_norm += d.squared_norm_expr.subs(Q, q_exact)
        remaining -= set(event.fitted)
        s_exact = sum(sp.Rational(Fraction(problem.labels[i])) ** 2 for i in remaining)
        assert sp.Rational(Fraction(loss)) == d.plateau_loss_expr.subs({S: s_exact, n: problem.n})
    assert sp.Rational(Fraction(traj.squared_norm)) == total_norm
    assert sp.Rational(Fraction(traj.plateau_losses[-1])) == 0
    # Minimal norm: 2(√Q₊ + √Q₋) is irrational in general; the engine takes two correctly
    # rounded square roots of exact sums and adds them: within 2 ulp of the true value.
    q_pos = sum((sp.Rational(v) / sp.Rational(w)) ** 2 for sg, lab, nor in groups if sg > 0 for v, w in zip(lab, nor))
    q_neg = sum((sp.Rational(v) / sp.Rational(w)) ** 2 for sg, lab, nor in groups if sg < 0 for v, w in zip(lab, nor))
    minimal = closed_forms.min_norm_derivation().total_min_expr.subs(
        {sp.Symbol("Q_plus", nonnegative=True): q_pos, sp.Symbol("Q_minus", nonnegative=True): q_neg})
    exact = Fraction(str(sp.N(minimal, 50)))
    assert abs(Fraction(traj.min_squared_norm) - exact) <= 2 * Fraction(np.spacing(traj.min_squared_norm))


@given(st.lists(st.tuples(st.fractions(Fraction(1, 8), Fraction(8), max_denominator=12),
                          st.fractions(Fraction(1, 8), Fraction(8), max_denominator=12)), min_size=1, max_size=10),
       st.sampled_from([1, -1]))
def test_engine_saddle_of_rational_data_is_within_its_rounding_bound(pairs, sign):
    """General rationals: the SymPy value is irrational, so compare against the a-priori
    rounding bound of the engine's float evaluation (as in the numeric test above)."""
    labels = [sign * float(p) for p, _ in pairs]
    norms = [float(q) for _, q in pairs]
    k = len(pairs)
    problem = OrthogonalProblem(labels, norms)
    init = Initialization(np.array([norms]), [sign * (k + 1.0)])
    traj = simulate(problem, init)
    q_exact = sum((sp.Rational(p) / sp.Rational(q)) ** 2 for p, q in pairs)
    a_exact = Fraction(str(sp.N(sign * closed_forms.saddle_derivation().output_weight_expr.subs(Q, q_exact), 40)))
    a_final, U_final = traj.parameters_at(np.inf)
    bound = (k + 1) * U_ROUND / 4 + 2 * U_ROUND
    assert abs(Fraction(a_final[0]) - a_exact) <= bound * abs(a_exact)
    norm_exact = Fraction(str(sp.N(closed_forms.saddle_derivation().squared_norm_expr.subs(Q, q_exact), 40)))
    assert abs(Fraction(traj.squared_norm) - norm_exact) <= ((k + 1) * U_ROUND / 2 + 2 * U_ROUND) * norm_exact
