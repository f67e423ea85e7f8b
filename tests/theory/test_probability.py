"""The interpolation probability of docs/math/probability.rst: exact, symbolic, log-space, widths.

The exact values are checked against their definition (brute-force enumeration of every
sign and activation pattern, and the engine run on each), the two closed forms against
each other (exactly and symbolically), and the float64 evaluations against the exact
rationals.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from jumpprocess import Initialization, OrthogonalProblem, simulate
from theory import probability as P


def _ln(value: Fraction) -> float:
    """ln of a positive rational to 60 digits (then rounded): a reference for the floats."""
    with localcontext() as context:
        context.prec = 60
        return float(Decimal(value.numerator).ln() - Decimal(value.denominator).ln())


def _brute_force(m: int, n_pos: int, n_neg: int) -> Fraction:
    """Enumerate all 2^m signs and 2^{mn} activation patterns (each equally likely)."""
    n = n_pos + n_neg
    labels = [1] * n_pos + [-1] * n_neg
    covered_count = 0
    for signs in itertools.product((1, -1), repeat=m):
        for pattern in itertools.product((False, True), repeat=m * n):
            covered = all(
                any(pattern[j * n + i] and signs[j] * labels[i] > 0 for j in range(m)) for i in range(n)
            )
            covered_count += covered
    return Fraction(covered_count, 2 ** (m + m * n))


@pytest.mark.parametrize("m,n_pos,n_neg", [(0, 0, 0), (0, 1, 0), (1, 1, 0), (2, 1, 1), (3, 1, 1), (2, 2, 1), (3, 2, 1), (4, 1, 2), (3, 0, 3)])
def test_exact_probability_equals_brute_force_enumeration(m, n_pos, n_neg):
    assert P.interpolation_probability(m, n_pos, n_neg) == _brute_force(m, n_pos, n_neg)


@pytest.mark.parametrize("m,n_pos,n_neg", [(2, 1, 1), (3, 1, 1), (2, 2, 1)])
def test_engine_interpolates_with_exactly_the_predicted_frequency(m, n_pos, n_neg):
    """Run the engine on every equally likely (sign, Ū-sign) pattern: its interpolation
    count over all 2^{m + mn} patterns must equal the exact probability."""
    n = n_pos + n_neg
    problem = OrthogonalProblem([1.0] * n_pos + [-1.0] * n_neg)
    hits = 0
    for signs in itertools.product((1.0, -1.0), repeat=m):
        for pattern in itertools.product((1.0, -1.0), repeat=m * n):
            U = np.array(pattern).reshape(m, n) * 0.5
            init = Initialization(U, np.array(signs) * np.sqrt(n))  # balanced-like, sign-stable
            hits += simulate(problem, init).interpolates
    assert Fraction(hits, 2 ** (m + m * n)) == P.interpolation_probability(m, n_pos, n_neg)


sizes = st.tuples(st.integers(0, 12), st.integers(0, 6), st.integers(0, 6))


@given(sizes)
def test_product_form_equals_inclusion_exclusion_exactly(size):
    m, n_pos, n_neg = size
    exact = P.interpolation_probability(m, n_pos, n_neg)
    assert exact == P.interpolation_probability_inclusion_exclusion(m, n_pos, n_neg)
    assert 0 <= exact <= 1
    rational = P.interpolation_probability(m, n_pos, n_neg, sympy=True)
    assert isinstance(rational, sp.Rational) and rational == sp.Rational(exact.numerator, exact.denominator)
    assert isinstance(exact, Fraction)


@pytest.mark.parametrize("n_pos,n_neg", [(0, 0), (1, 0), (0, 2), (1, 1), (2, 1), (3, 2), (2, 3)])
def test_forms_agree_symbolically_for_every_width(n_pos, n_neg):
    assert P.forms_agree(n_pos, n_neg)
    ie, m = P.inclusion_exclusion_expr(n_pos, n_neg)
    product, m2 = P.product_form_expr(n_pos, n_neg)
    for width in range(6):  # the SymPy Sum, evaluated, agrees with the exact function too
        assert sp.nsimplify(product.subs(m2, width).doit()) == P.interpolation_probability(width, n_pos, n_neg, sympy=True)
        assert sp.nsimplify(ie.subs(m, width)) == P.interpolation_probability(width, n_pos, n_neg, sympy=True)


@settings(max_examples=200)
@given(st.tuples(st.integers(0, 200), st.integers(0, 40), st.integers(0, 40)))
def test_log_space_values_match_the_exact_rationals(size):
    m, n_pos, n_neg = size
    exact = P.interpolation_probability(m, n_pos, n_neg)
    log_p = P.log_interpolation_probability(m, n_pos, n_neg)
    log_fail = P.log_failure_probability(m, n_pos, n_neg)
    if exact == 0:
        assert log_p == -math.inf and log_fail == 0.0
    else:
        assert abs(log_p - _ln(exact)) <= 1e-12 * max(1.0, abs(_ln(exact))) + 1e-14
    failure = 1 - exact
    if failure == 0:
        assert log_fail == -math.inf and P.failure_probability(m, n_pos, n_neg) == 0.0
    else:
        # relative accuracy of the failure probability even when it is ~1e-50
        assert abs(log_fail - _ln(failure)) <= 1e-11 * max(1.0, abs(_ln(failure)))


def test_failure_probability_far_below_float64_range_is_the_union_bound_to_first_order():
    # For large m the failure is n(3/4)^m up to pairs missing together ((5/8)^m): check ln.
    for m, n_pos, n_neg in [(3000, 10, 10), (5000, 7, 0)]:
        expected = math.log(n_pos + n_neg) + m * math.log(0.75)
        assert P.log_failure_probability(m, n_pos, n_neg) == pytest.approx(expected, abs=1e-9)
        assert P.failure_probability(m, n_pos, n_neg) == 0.0  # underflows, honestly


@pytest.mark.parametrize("n", [10**6, 10**9, 10**12])
def test_huge_n_is_cheap_finite_and_monotone_in_m(n):
    half = n // 2
    values = [P.log_failure_probability(m, half, n - half) for m in range(0, 200, 10)]
    assert all(math.isfinite(v) or v == 0.0 for v in values)
    assert all(b <= a for a, b in zip(values, values[1:]))
    probabilities = [P.log_interpolation_probability(m, half, n - half) for m in range(60, 200, 10)]
    assert all(b >= a for a, b in zip(probabilities, probabilities[1:]))


@settings(max_examples=60)
@given(st.integers(0, 30), st.integers(0, 30), st.sampled_from([0.5, 0.1, 0.01, 1e-4]))
def test_min_width_is_the_least_width_reaching_delta_exactly(n_pos, n_neg, delta):
    m_star = P.min_width(n_pos, n_neg, delta)
    threshold = Fraction(delta)
    assert 1 - P.interpolation_probability(m_star, n_pos, n_neg) <= threshold
    if m_star > 0:
        assert 1 - P.interpolation_probability(m_star - 1, n_pos, n_neg) > threshold
    assert m_star <= P.union_bound_width(n_pos + n_neg, delta)


@pytest.mark.parametrize("n", [10, 1000, 10**6, 10**9])
def test_min_width_sits_just_below_the_union_bound_and_above_the_asymptote(n):
    for delta in (0.5, 0.01, 1e-6):
        m_star = P.min_width(n // 2, n - n // 2, delta)
        union = P.union_bound_width(n, delta)
        assert P.asymptotic_width(n) < m_star <= union
        assert P.failure_probability(union, n // 2, n - n // 2) <= P.union_bound_failure(union, n) <= delta


def test_min_width_over_twice_log2_n_decreases_towards_one():
    ratios = [P.min_width(n // 2, n - n // 2, 0.01) / P.asymptotic_width(n) for n in (10**3, 10**6, 10**9, 10**12, 10**18)]
    assert all(b < a for a, b in zip(ratios, ratios[1:]))
    assert 1.0 < ratios[-1] < 1.3


def test_small_examples():
    # m = 2, one sample of each sign: interpolation needs one neuron per sign (prob 1/2),
    # each active on its sample (1/2 each): 1/8.
    assert P.interpolation_probability(2, 1, 1) == Fraction(1, 8)
    assert P.interpolation_probability(0, 0, 0) == 1 and P.interpolation_probability(0, 1, 0) == 0
    assert P.interpolation_probability(1, 1, 0) == Fraction(1, 4)
    assert P.union_bound_width(100, 0.01) == math.ceil(math.log(100 / 0.01) / math.log(4 / 3))
    assert P.min_width(0, 0, 0.5) == 0


@pytest.mark.parametrize("call,match", [
    (lambda: P.interpolation_probability(-1, 1, 1), "m .* non-negative integer"),
    (lambda: P.interpolation_probability(2.5, 1, 1), "m .* non-negative integer"),
    (lambda: P.interpolation_probability(3.0, 1, 1), "m .* non-negative integer"),
    (lambda: P.interpolation_probability(True, 1, 1), "bool"),
    (lambda: P.interpolation_probability(2, -1, 1), "n_pos"),
    (lambda: P.interpolation_probability(2, 1, -3), "n_neg"),
    (lambda: P.log_interpolation_probability(2, 1.5, 1), "n_pos"),
    (lambda: P.min_width(-1, 1, 0.1), "n_pos"),
    (lambda: P.min_width(1, 1, 0.0), r"delta .* \(0, 1\)"),
    (lambda: P.min_width(1, 1, 1.0), r"delta .* \(0, 1\)"),
    (lambda: P.min_width(1, 1, -0.5), r"delta .* \(0, 1\)"),
    (lambda: P.min_width(1, 1, float("nan")), r"delta .* \(0, 1\)"),
    (lambda: P.min_width(1, 1, "x"), "delta"),
    (lambda: P.union_bound_width(10, 2.0), r"delta .* \(0, 1\)"),
    (lambda: P.asymptotic_width(0), "n >= 1"),
    (lambda: P.interpolation_probability(10**4, 10**4, 0), "use log_interpolation_probability"),
])
def test_bad_input_gets_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_are_accepted():
    assert P.interpolation_probability(np.int64(3), np.int32(2), np.uint8(1)) == P.interpolation_probability(3, 2, 1)


def test_monte_carlo_study_runs_and_agrees_on_a_small_grid(capsys):
    """Seeded, so deterministic: engine frequencies within 3 SE of the exact probability."""
    from theory import montecarlo

    rows = montecarlo.interpolation_study([6, 12], [3, 8, 14], 200, seed=1)
    assert [(row.n, row.m) for row in rows] == [(n, m) for n in (6, 12) for m in (3, 8, 14)]
    for row in rows:
        assert row.exact == pytest.approx(float(P.interpolation_probability(row.m, row.n_pos, row.n_neg)), rel=1e-10)
        assert abs(row.z_score) <= 3, row
    ratios = montecarlo.norm_ratio_study([16], 20, seed=1)
    assert ratios[0].m == montecarlo.default_width(16) == 16 and ratios[0].mean_ratio >= 1.0
    assert montecarlo.main(["--ns", "6", "--ms", "3:5:2", "--trials", "10", "--ratio-ns", "8", "--ratio-trials", "5"]) == 0
    out = capsys.readouterr().out
    assert "| 6 | 3 | 10 |" in out and "| 6 | 5 | 10 |" in out and "| 8 | 12 | 5 |" in out
