"""The probability that the limit process interpolates (docs/math/probability.rst), exactly and at scale.

Setting: a symmetric sign-stable initialization (balanced Gaussian), so that each neuron's
sign is ±1 with probability 1/2 and each ``Ū_ji > 0`` with probability 1/2, all independent
(orthogonal data makes the ``Ū_ji`` independent). The network interpolates iff every sample
with a nonzero label lies in some good set (coverage, docs/math/race.rst). With ``n₊``, ``n₋`` the numbers
of positive and negative labels and ``k`` the number of positive neurons,

    P(m, n₊, n₋) = Σ_{k=0..m} C(m,k) 2^{−m} (1 − 2^{−k})^{n₊} (1 − 2^{−(m−k)})^{n₋}      (product form)

and, by inclusion–exclusion over the uncovered samples (a neuron misses a given set of ``i``
positive and ``j`` negative samples with probability ``(2^{−i} + 2^{−j}) / 2``),

    P(m, n₊, n₋) = Σ_{i≤n₊, j≤n₋} (−1)^{i+j} C(n₊,i) C(n₋,j) ((2^{−i} + 2^{−j}) / 2)^m.

Functions
---------
* :func:`interpolation_probability` — exact (``fractions.Fraction`` or ``sympy.Rational``).
* :func:`interpolation_probability_inclusion_exclusion` — exact, the other form.
* :func:`log_interpolation_probability`, :func:`failure_probability` — float64, stable for
  ``n`` up to 10^9 and beyond: only ``m + 1`` terms, each ``(1 − 2^{−k})^{n}`` computed as
  ``exp(n log1p(−2^{−k}))``, and ``1 − P`` summed from non-negative terms
  ``−expm1(·)`` without cancellation.
* :func:`min_width` — the least ``m`` with failure probability ``≤ δ``; compare
  :func:`union_bound_width` ``⌈log(n/δ) / log(4/3)⌉`` (from ``P(fail) ≤ n (3/4)^m``) and
  :func:`asymptotic_width` ``2 log₂ n``.
* :func:`product_form_expr`, :func:`inclusion_exclusion_expr`, :func:`forms_agree` — SymPy
  versions and the symbolic proof that the two forms are equal for given ``n₊, n₋``.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction

import numpy as np

__all__ = [
    "EXACT_BIT_LIMIT",
    "interpolation_probability",
    "interpolation_probability_inclusion_exclusion",
    "log_interpolation_probability",
    "failure_probability",
    "log_failure_probability",
    "union_bound_failure",
    "min_width",
    "union_bound_width",
    "asymptotic_width",
    "product_form_expr",
    "inclusion_exclusion_expr",
    "forms_agree",
]

#: Largest ``m · max(n₊, n₋)`` for exact evaluation (the numerator has about that many bits).
EXACT_BIT_LIMIT = 20_000_000


def _count(value, name: str) -> int:
    """A non-negative integer, or a ValueError naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer, got the bool {value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})") from None
    if result < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {result}")
    return result


def _sizes(m, n_pos, n_neg) -> tuple[int, int, int]:
    return _count(m, "m (the width)"), _count(n_pos, "n_pos"), _count(n_neg, "n_neg")


def _delta(delta) -> float:
    try:
        value = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"delta must be a number in (0, 1), got {delta!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"delta (the target failure probability) must lie in (0, 1), got {delta!r}")
    return value


def interpolation_probability(m, n_pos, n_neg, *, sympy: bool = False):
    """Exact probability that the limit process interpolates (docs/math/probability.rst, product form).

    Parameters
    ----------
    m : int
        Width, ``m >= 0``.
    n_pos, n_neg : int
        Numbers of positive and negative labels (zero labels need no coverage).
    sympy : bool
        Return a ``sympy.Rational`` instead of a ``fractions.Fraction``.

    Returns
    -------
    fractions.Fraction or sympy.Rational

    Raises
    ------
    ValueError
        Negative or non-integer sizes; ``m · max(n₊, n₋) > EXACT_BIT_LIMIT`` (use
        :func:`log_interpolation_probability` or :func:`failure_probability`).

    Notes
    -----
    Integer arithmetic over the common denominator ``2^{m(1 + n₊ + n₋)}``: the ``k``-th term
    is ``C(m,k) (2^k − 1)^{n₊} 2^{(m−k) n₊} (2^{m−k} − 1)^{n₋} 2^{k n₋}``. Cost ``O(m)`` big-
    integer powers of ``O(m n)`` bits.

    Examples
    --------
    >>> interpolation_probability(2, 1, 1)
    Fraction(1, 8)
    >>> interpolation_probability(0, 0, 0)
    Fraction(1, 1)
    """
    m, n_pos, n_neg = _sizes(m, n_pos, n_neg)
    if m * max(n_pos, n_neg) > EXACT_BIT_LIMIT:
        raise ValueError(
            f"exact evaluation needs about m*max(n_pos, n_neg) = {m * max(n_pos, n_neg)} bits "
            f"(limit {EXACT_BIT_LIMIT}); use log_interpolation_probability or failure_probability"
        )
    numerator = 0
    for k in range(m + 1):
        positive = (2**k - 1) ** n_pos << ((m - k) * n_pos)
        negative = (2 ** (m - k) - 1) ** n_neg << (k * n_neg)
        numerator += math.comb(m, k) * positive * negative
    value = Fraction(numerator, 1 << (m * (1 + n_pos + n_neg)))
    return _as_requested(value, sympy)


def _as_requested(value: Fraction, sympy: bool):
    if sympy:
        import sympy as sp

        return sp.Rational(value.numerator, value.denominator)
    return value


def interpolation_probability_inclusion_exclusion(m, n_pos, n_neg, *, sympy: bool = False):
    """Exact probability by inclusion–exclusion over uncovered samples (docs/math/probability.rst).

    ``Σ_{i,j} (−1)^{i+j} C(n₊,i) C(n₋,j) ((2^{−i} + 2^{−j}) / 2)^m``; ``(n₊+1)(n₋+1)`` terms,
    so meant for small sizes (it is the independent check of the product form).

    Examples
    --------
    >>> interpolation_probability_inclusion_exclusion(2, 1, 1)
    Fraction(1, 8)
    """
    m, n_pos, n_neg = _sizes(m, n_pos, n_neg)
    if (n_pos + 1) * (n_neg + 1) > 10**6:
        raise ValueError("inclusion-exclusion has (n_pos+1)(n_neg+1) terms; too many for these sizes")
    total = Fraction(0)
    for i in range(n_pos + 1):
        for j in range(n_neg + 1):
            miss = (Fraction(1, 2**i) + Fraction(1, 2**j)) / 2
            total += (-1) ** (i + j) * math.comb(n_pos, i) * math.comb(n_neg, j) * miss**m
    return _as_requested(total, sympy)


def _log_terms(m: int, n_pos: int, n_neg: int):
    """Per ``k = 0..m`` (the number of positive neurons): ``ln(C(m,k) 2^{−m})`` and ``ln(−x_k)``.

    ``x_k = n₊ ln(1 − 2^{−k}) + n₋ ln(1 − 2^{−(m−k)}) <= 0`` is the log-probability that all
    samples are covered given ``k``. It is returned as ``ln(−x_k)`` because ``x_k`` itself
    underflows for large widths (``2^{−k}`` below 1e-308) while its logarithm does not.
    """
    from scipy.special import gammaln

    k = np.arange(m + 1, dtype=np.float64)
    log_weight = gammaln(m + 1.0) - gammaln(k + 1.0) - gammaln(m - k + 1.0) - m * math.log(2.0)
    log_minus_x = np.full(m + 1, -np.inf)
    for count, misses in ((n_pos, k), (n_neg, m - k)):
        if count > 0:
            log_minus_x = np.logaddexp(log_minus_x, math.log(count) + _log_minus_log1p_minus_exp2(misses))
    return log_weight, log_minus_x


def _log_minus_log1p_minus_exp2(k: np.ndarray) -> np.ndarray:
    """``ln(−ln(1 − 2^{−k}))`` for integers ``k >= 0``; ``+inf`` at ``k = 0``.

    For ``k >= 60``, ``−ln(1 − t) = t (1 + t/2 + …)`` with ``t = 2^{−k}`` makes the value
    ``−k ln 2`` to within ``2^{−61}``, with no underflow however large ``k`` is.
    """
    small = np.minimum(k, 60.0)
    with np.errstate(divide="ignore"):
        direct = np.log(-np.log1p(-np.exp2(-small)))
    return np.where(k < 60, direct, -k * math.log(2.0))


def _log_cover_and_miss(m: int, n_pos: int, n_neg: int):
    """``ln P(cover | k)`` and ``ln P(miss | k)`` per k, with their log weights."""
    log_weight, log_minus_x = _log_terms(m, n_pos, n_neg)
    with np.errstate(over="ignore"):
        x = -np.exp(log_minus_x)  # ln P(cover | k), exact to rounding; -inf when impossible
    with np.errstate(divide="ignore"):
        # ln(1 − e^x): direct where x is not tiny, else ln(−x) + log1p(x/2) (Taylor, |x| < 1e-9)
        log_miss = np.where(
            log_minus_x > -20.0,
            np.log(-np.expm1(np.minimum(x, -1e-300))),
            log_minus_x + np.log1p(np.maximum(x, -1.0) / 2),
        )
    return log_weight, x, log_miss


def _log_pair(m: int, n_pos: int, n_neg: int) -> tuple[float, float]:
    """``(ln P, ln(1 − P))``, each from the side where it is small.

    Both are log-sum-exps of non-negative terms; the larger of ``P`` and ``1 − P`` (at
    least 1/2) is then recomputed as ``log1p(−smaller)``, which is accurate and keeps both
    logarithms <= 0 (a sum of terms rounding to just above 1 would give a log above 0).
    """
    from scipy.special import logsumexp

    log_weight, log_cover, log_miss = _log_cover_and_miss(m, n_pos, n_neg)
    log_p = float(logsumexp(log_weight + log_cover))
    log_fail = float(logsumexp(log_weight + log_miss))
    if log_p < log_fail:
        log_fail = math.log1p(-math.exp(log_p))
    else:
        log_p = math.log1p(-math.exp(log_fail))
    return log_p, log_fail


def log_interpolation_probability(m, n_pos, n_neg) -> float:
    """``ln P(interpolation)`` in float64, stable for any sizes (docs/math/probability.rst).

    Notes
    -----
    ``logsumexp_k [ln C(m,k) − m ln 2 + n₊ log1p(−2^{−k}) + n₋ log1p(−2^{−(m−k)})]``: ``m + 1``
    terms whatever ``n``, so ``n = 10^9`` costs the same as ``n = 10``. Returns ``-inf`` when
    interpolation is impossible (e.g. ``m = 0`` with a nonzero label).

    Examples
    --------
    >>> import math
    >>> round(math.exp(log_interpolation_probability(2, 1, 1)), 12)
    0.125
    """
    return _log_pair(*_sizes(m, n_pos, n_neg))[0]


def log_failure_probability(m, n_pos, n_neg) -> float:
    """``ln(1 − P(interpolation))``, accurate even far below float64's range (docs/math/probability.rst).

    Notes
    -----
    ``logsumexp_k [ln C(m,k) − m ln 2 + ln(1 − P(cover | k))]``: every term is a probability,
    so nothing cancels; ``ln(1 − P(cover | k))`` is computed from ``ln(−ln P(cover | k))``
    (see :func:`_log_terms`), so even ``2^{−k}`` below the smallest float64 is harmless.
    ``-inf`` means failure is impossible (no nonzero labels).

    Examples
    --------
    >>> log_failure_probability(0, 0, 0)
    -inf
    """
    return _log_pair(*_sizes(m, n_pos, n_neg))[1]


def failure_probability(m, n_pos, n_neg) -> float:
    """``1 − P(interpolation)`` in float64, accurate (relatively) even when it is tiny.

    ``exp`` of :func:`log_failure_probability`; underflows to 0 only below about 1e-308.

    Examples
    --------
    >>> failure_probability(2, 1, 1)
    0.875
    """
    return math.exp(log_failure_probability(m, n_pos, n_neg))


def union_bound_failure(m, n) -> float:
    """The union bound ``P(fail) <= n (3/4)^m`` (each sample is missed by a neuron w.p. 3/4)."""
    m = _count(m, "m (the width)")
    n = _count(n, "n")
    return float(n * 0.75**m)


def min_width(n_pos, n_neg, delta) -> int:
    """The least width ``m*`` whose failure probability is at most ``δ`` (docs/math/probability.rst).

    Parameters
    ----------
    n_pos, n_neg : int
        Numbers of positive and negative labels (any size; float64 log-space evaluation).
    delta : float
        Target failure probability, ``0 < δ < 1``.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Negative or non-integer sizes; ``δ`` outside ``(0, 1)``.

    Notes
    -----
    The failure probability is non-increasing in ``m`` (a width-``m`` network is the first
    ``m`` neurons of a width-``m+1`` one, and adding a neuron only adds coverage), so ``m*``
    is found by doubling and bisection: ``O(log m*)`` evaluations of ``m + 1`` terms each.
    ``m* <= union_bound_width(n₊ + n₋, δ)`` always.

    Examples
    --------
    >>> min_width(50, 50, 0.01)
    32
    """
    n_pos = _count(n_pos, "n_pos")
    n_neg = _count(n_neg, "n_neg")
    delta = _delta(delta)
    log_delta = math.log(delta)

    def ok(m: int) -> bool:
        return log_failure_probability(m, n_pos, n_neg) <= log_delta

    if ok(0):
        return 0
    high = 1
    while not ok(high):
        high *= 2
    low = high // 2  # not ok (or 0, which was not ok)
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return high


def union_bound_width(n, delta) -> int:
    """``⌈log(n/δ) / log(4/3)⌉``: the width at which the union bound ``n (3/4)^m`` reaches δ.

    Examples
    --------
    >>> union_bound_width(100, 0.01)
    33
    """
    n = _count(n, "n")
    delta = _delta(delta)
    if n == 0:
        return 0
    return max(0, math.ceil(math.log(n / delta) / math.log(4.0 / 3.0)))


def asymptotic_width(n) -> float:
    """``2 log₂ n``, the leading-order threshold width for balanced labels (docs/math/probability.rst).

    With ``k ≈ m/2`` positive neurons, a positive sample is missed with probability about
    ``2^{−m/2}``, so coverage of ``n/2`` samples of each sign needs ``m/2 ≳ log₂ n``.
    """
    n = _count(n, "n")
    if n == 0:
        raise ValueError("asymptotic_width needs n >= 1")
    return 2.0 * math.log2(n)


# ----------------------------------------------------------------------------- SymPy forms


def product_form_expr(n_pos, n_neg):
    """The product form as an unevaluated ``sympy.Sum`` over ``k`` with symbolic ``m``.

    Returns
    -------
    (expr, m) : (sympy.Expr, sympy.Symbol)
    """
    import sympy as sp

    n_pos = _count(n_pos, "n_pos")
    n_neg = _count(n_neg, "n_neg")
    m, k = sp.symbols("m k", integer=True, nonnegative=True)
    term = sp.binomial(m, k) * sp.Rational(1, 2) ** m * (1 - sp.Rational(1, 2) ** k) ** n_pos
    term = term * (1 - sp.Rational(1, 2) ** (m - k)) ** n_neg
    return sp.Sum(term, (k, 0, m)), m


def inclusion_exclusion_expr(n_pos, n_neg):
    """The inclusion–exclusion form as a SymPy expression in a symbolic width ``m``.

    Returns
    -------
    (expr, m) : (sympy.Expr, sympy.Symbol)
    """
    import sympy as sp

    n_pos = _count(n_pos, "n_pos")
    n_neg = _count(n_neg, "n_neg")
    m = sp.Symbol("m", integer=True, nonnegative=True)
    expr = sum(
        (-1) ** (i + j)
        * sp.binomial(n_pos, i)
        * sp.binomial(n_neg, j)
        * ((sp.Rational(1, 2**i) + sp.Rational(1, 2**j)) / 2) ** m
        for i in range(n_pos + 1)
        for j in range(n_neg + 1)
    )
    return sp.expand(expr), m


def forms_agree(n_pos, n_neg) -> bool:
    """Prove symbolically, for all widths ``m`` at once, that the two forms are equal.

    Notes
    -----
    Write ``X = 2^{−k}``, ``Y = 2^{−(m−k)}``; SymPy expands the summand
    ``(1 − X)^{n₊} (1 − Y)^{n₋} = Σ_{i,j} c_ij X^i Y^j`` as a polynomial, and each monomial
    sums by the binomial theorem, ``Σ_k C(m,k) 2^{−m} 2^{−ik} 2^{−j(m−k)} = ((2^{−i}+2^{−j})/2)^m``.
    The resulting expression in symbolic ``m`` is compared with :func:`inclusion_exclusion_expr`
    by ``sympy.simplify`` of the difference. The binomial-theorem step is the one identity
    used; it is itself checked by SymPy for the bases that occur at ``m = 0..4``.
    """
    import sympy as sp

    n_pos = _count(n_pos, "n_pos")
    n_neg = _count(n_neg, "n_neg")
    X, Y = sp.symbols("X Y")
    polynomial = sp.Poly(sp.expand((1 - X) ** n_pos * (1 - Y) ** n_neg), X, Y)
    m, k = sp.symbols("m k", integer=True, nonnegative=True)
    summed = 0
    for (i, j), coefficient in polynomial.terms():
        base_x, base_y = sp.Rational(1, 2**i), sp.Rational(1, 2**j)
        closed = ((base_x + base_y) / 2) ** m
        for width in range(5):  # the binomial theorem, checked where it is used
            explicit = sum(
                sp.binomial(width, kk) * sp.Rational(1, 2**width) * base_x**kk * base_y ** (width - kk)
                for kk in range(width + 1)
            )
            if explicit != closed.subs(m, width):
                return False
        summed += coefficient * closed
    target, m_ie = inclusion_exclusion_expr(n_pos, n_neg)
    return sp.simplify(sp.expand(summed) - target.subs(m_ie, m)) == 0
