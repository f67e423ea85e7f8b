"""Closed forms of the limit process, derived in SymPy (docs/math/saddles.rst, docs/math/implicit-bias.rst).

Nothing here is typed in: every formula is obtained once, lazily, by asking SymPy to solve
the defining equations (stationarity of the loss, balancedness, a Lagrangian), and the fast
numeric functions are ``sympy.lambdify`` of those very expressions. The tests compare the
engine against these derivations.

Notation (docs/math/model.rst, docs/math/reduction.rst, docs/math/saddles.rst): a neuron ``k``
with output weight ``a`` fits a set ``F`` of samples with labels ``y_i`` and data norms ``s_i``;
``u_i = <w, x_i>``; ``n`` is the number of samples;

    Q_F = Σ_{i∈F} y_i² / s_i²

is the only combination of the data the saddle depends on.

Derivations (each a cached function returning SymPy objects):

* :func:`saddle_derivation` — stationarity of ``(1/2n) Σ_{i∈F} (a u_i − y_i)²`` in ``u_i``
  gives ``u_i = y_i / a``; balancedness ``a² = ||w||² = Σ u_i² / s_i²`` then gives
  ``a⁴ = Q_F``, hence ``|a| = Q_F^{1/4}`` and the neuron's squared norm
  ``a² + ||w||² = 2 Q_F^{1/2}``. The plateau loss is what the saddle leaves unfitted,
  ``(1/2n) Σ_{i∈R} y_i²``.
* :func:`tangent_kernel_derivation` — the Jacobian of ``f(x_i) = a relu(<w, x_i>)`` at the
  saddle gives the Gram block ``K_F = (y_F y_Fᵀ / a² + a² diag(s_F²)) / n`` and, for unit
  norms, its eigenvalues ``||y_F|| / n`` (multiplicity ``|F| − 1``) and ``2 ||y_F|| / n``.
* :func:`min_norm_derivation` — minimizing ``a² + ||w||²`` subject to fitting ``F`` (one
  neuron) gives ``2 Q_F^{1/2}``, with its first- and second-order optimality conditions and
  a Lagrangian (KKT) check; subadditivity of ``√`` shows one neuron per label sign is
  optimal, so the minimal interpolator has squared norm ``2 (||(y/s)₊|| + ||(y/s)₋||)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from jumpprocess.precision import DTYPE

__all__ = [
    "SaddleDerivation",
    "TangentKernelDerivation",
    "MinNormDerivation",
    "saddle_derivation",
    "tangent_kernel_derivation",
    "min_norm_derivation",
    "saddle_output_weight",
    "saddle_preactivations",
    "neuron_squared_norm",
    "plateau_loss",
    "plateau_losses",
    "learned_squared_norm",
    "min_squared_norm",
    "tangent_kernel_block",
    "tangent_kernel_eigenvalues",
]

# The symbols of the derivations. ``a`` is |a_k| (the sign is applied afterwards).
a = sp.Symbol("a", positive=True)
u = sp.Symbol("u", real=True)
y = sp.Symbol("y", real=True)
s = sp.Symbol("s", positive=True)
n = sp.Symbol("n", positive=True)
Q = sp.Symbol("Q", positive=True)  #: Σ_{i∈F} y_i² / s_i²
S = sp.Symbol("S", nonnegative=True)  #: Σ_{i∈R} y_i² (labels not yet fitted)


def _unique(solutions, what: str):
    if len(solutions) != 1:
        raise ArithmeticError(f"SymPy found {len(solutions)} solutions for {what}: {solutions}")
    return solutions[0]


@dataclass(frozen=True)
class SaddleDerivation:
    """SymPy results of the single-neuron saddle derivation (docs/math/saddles.rst).

    Attributes
    ----------
    loss_expr : sympy.Expr
        The loss restricted to the neuron's fitted set ``F = {1..k}``,
        ``Σ_{i=1..k} (a u_i − y_i)² / (2n)`` (indexed symbols ``u[i], y[i], s[i]``).
    preactivation_gradient_expr : sympy.Expr
        ``∂L/∂u_j`` (the coefficient of ``x_j`` in ``∇_w L``).
    preactivation_expr : sympy.Expr
        ``u_j`` solving ``∂L/∂u_j = 0``, in terms of ``y`` (= ``y_j``) and ``a``: ``y / a``.
    balance_equation : sympy.Eq
        Balancedness ``a² = ||w||² = Σ u_i²/s_i²`` after substituting ``u_i``, written in
        ``Q = Σ_{i∈F} y_i²/s_i²``: ``a² = Q / a²``.
    output_weight_expr : sympy.Expr
        ``|a|`` solving the balance equation: ``Q^{1/4}``.
    output_gradient_at_saddle : sympy.Expr
        ``∂L/∂a`` at the saddle (simplifies to ``0``).
    squared_norm_expr : sympy.Expr
        ``a² + ||w||²`` at the saddle: ``2 √Q``.
    fitted_residual_expr : sympy.Expr
        Residual ``y − a u`` of a fitted sample at the saddle (``0``).
    plateau_loss_expr : sympy.Expr
        Loss on the plateau, in terms of ``S = Σ_{i∈R} y_i²`` and ``n``: ``S / (2n)``.
    """

    loss_expr: sp.Expr
    preactivation_gradient_expr: sp.Expr
    preactivation_expr: sp.Expr
    balance_equation: sp.Eq
    output_weight_expr: sp.Expr
    output_gradient_at_saddle: sp.Expr
    squared_norm_expr: sp.Expr
    fitted_residual_expr: sp.Expr
    plateau_loss_expr: sp.Expr


_i = sp.Symbol("i", integer=True)
_j = sp.Symbol("j", integer=True, positive=True)
_k = sp.Symbol("k", integer=True, positive=True)
_Y = sp.IndexedBase("y", real=True)
_S = sp.IndexedBase("s", positive=True)
_U = sp.IndexedBase("u", real=True)


@functools.cache
def saddle_derivation() -> SaddleDerivation:
    """Derive the saddle of a neuron fitting ``F`` (docs/math/saddles.rst) by solving its defining equations.

    Returns
    -------
    SaddleDerivation

    Notes
    -----
    With orthogonal ``x_i``, ``∇_w L = Σ_i (∂L/∂u_i) x_i`` vanishes iff every ``∂L/∂u_i``
    does, so stationarity is solved for a generic index ``j`` of the symbolic sum
    ``Σ_{i=1..k} (a u_i − y_i)² / (2n)``. Gradient flow conserves ``a² − ||w||²`` (docs/math/reduction.rst),
    which is ``0`` in the σ → 0 limit for a balanced start, giving the second equation
    ``a² = Σ_{i∈F} u_i² / s_i²``; it is solved for ``a > 0`` after the sum is recognized as
    ``Q / a²``.

    Examples
    --------
    >>> saddle_derivation().output_weight_expr
    Q**(1/4)
    """
    loss = sp.Sum((a * _U[_i] - _Y[_i]) ** 2, (_i, 1, _k)) / (2 * n)
    gradient = sp.piecewise_fold(sp.diff(loss, _U[_j]).doit())
    if isinstance(gradient, sp.Piecewise):  # (value for 1 <= j <= k, 0 otherwise)
        gradient = gradient.args[0][0]
    u_j = _unique(sp.solve(gradient, _U[_j]), "stationarity in u_j")
    u_i = u_j.subs(_j, _i)
    norm_w_squared = sp.factor_terms(sp.Sum(((_U[_i] / _S[_i]) ** 2).subs(_U[_i], u_i), (_i, 1, _k)))
    norm_w_squared = norm_w_squared.subs(sp.Sum(_Y[_i] ** 2 / _S[_i] ** 2, (_i, 1, _k)), Q)
    if norm_w_squared.has(sp.Sum):
        raise ArithmeticError(f"could not express ||w||^2 through Q: {norm_w_squared}")
    balance = sp.Eq(a**2, norm_w_squared)
    a_star = _unique(sp.solve(balance, a), "balancedness")
    output_gradient = sp.diff(loss, a)
    output_gradient_at_saddle = sp.simplify(
        sp.Sum(sp.diff((a * _U[_i] - _Y[_i]) ** 2, a).subs(_U[_i], u_i), (_i, 1, _k)) / (2 * n)
    )
    if output_gradient_at_saddle != 0:
        raise ArithmeticError(f"dL/da does not vanish at the saddle: {output_gradient}")
    squared_norm = sp.simplify((a**2 + norm_w_squared).subs(a, a_star))
    fitted_residual = sp.simplify((_Y[_j] - a * u_j).subs(_Y[_j], y))
    # Unfitted samples: the saddle neuron has u_i = 0 there and inactive neurons are 0, so
    # f(x_i) = 0 and the loss term is (0 − y_i)²/(2n); summed over R it is S/(2n).
    unfitted = sp.Sum((0 - _Y[_i]) ** 2, (_i, 1, _k)) / (2 * n)
    plateau = sp.factor_terms(unfitted).subs(sp.Sum(_Y[_i] ** 2, (_i, 1, _k)), S)
    return SaddleDerivation(
        loss_expr=loss,
        preactivation_gradient_expr=gradient,
        preactivation_expr=u_j.subs(_Y[_j], y),
        balance_equation=balance,
        output_weight_expr=a_star,
        output_gradient_at_saddle=output_gradient_at_saddle,
        squared_norm_expr=squared_norm,
        fitted_residual_expr=fitted_residual,
        plateau_loss_expr=plateau,
    )


@dataclass(frozen=True)
class TangentKernelDerivation:
    """SymPy results for the tangent-kernel block of a fitted set (docs/math/saddles.rst).

    Attributes
    ----------
    diagonal_expr, off_diagonal_expr : sympy.Expr
        ``(K_F)_ii`` in ``y_i = y, s_i = s, a, n`` and ``(K_F)_il`` in ``y_i = y, y_l = y2``.
    unit_norm_eigenvalues : dict
        Eigenvalues of ``K_F`` for unit norms in terms of ``N = ||y_F||`` and ``n``, mapped to
        their multiplicity (with ``k = |F|`` symbolic): ``{N/n: k − 1, 2N/n: 1}``.
    single_sample_eigenvalue_expr : sympy.Expr
        ``K_F`` when ``|F| = 1`` (in ``y, s, n``): ``2 |y| s / n``.
    """

    diagonal_expr: sp.Expr
    off_diagonal_expr: sp.Expr
    unit_norm_eigenvalues: dict
    single_sample_eigenvalue_expr: sp.Expr


y2 = sp.Symbol("y2", real=True)
N = sp.Symbol("N", positive=True)  #: ||y_F||_2
k_symbol = sp.Symbol("k", positive=True, integer=True)  #: ``|F|``


@functools.cache
def _gram(size: int):
    """``J Jᵀ / n`` at the saddle for ``size`` samples ``x_i = s_i e_i``, with its symbols."""
    ys = sp.symbols(f"y_1:{size + 1}", real=True)
    ss = sp.symbols(f"s_1:{size + 1}", positive=True)
    ws = sp.symbols(f"w_1:{size + 1}", real=True)
    outputs = [a * ws[i] * ss[i] for i in range(size)]  # a <w, s_i e_i>, active branch
    jacobian = sp.Matrix(outputs).jacobian([a, *ws])
    saddle = saddle_derivation()
    # w = Σ_i (u_i / s_i²) x_i with x_i = s_i e_i, so the i-th coordinate is u_i / s_i.
    at_saddle = {ws[i]: saddle.preactivation_expr.subs(y, ys[i]) / ss[i] for i in range(size)}
    return sp.simplify((jacobian * jacobian.T / n).subs(at_saddle)), ys, ss


def _unit_norm_spectrum(gram, ys, ss) -> dict:
    """Eigenvalues of the unit-norm block in ``N = ||y_F||`` and ``n``, with multiplicities."""
    saddle = saddle_derivation()
    norm_y = sp.sqrt(sum(yi**2 for yi in ys))
    spectrum = {}
    for value, multiplicity in gram.subs({si: 1 for si in ss}).eigenvals().items():
        value = sp.simplify(value.subs(a, saddle.output_weight_expr.subs(Q, norm_y**2)))
        spectrum[sp.simplify(value.subs(norm_y, N))] = multiplicity
    return spectrum


@functools.cache
def tangent_kernel_derivation(size: int = 3) -> TangentKernelDerivation:
    """Derive the tangent-kernel block ``K_F = J Jᵀ / n`` at a saddle (docs/math/saddles.rst).

    The Jacobian is taken of the real network ``f(x_i) = a relu(<w, x_i>)`` (active branch)
    with respect to ``(a, w)`` for ``size`` orthogonal inputs ``x_i = s_i e_i``, evaluated at
    the saddle of :func:`saddle_derivation`; the entry formulas are read off the resulting
    matrix and the unit-norm eigenvalues come from its characteristic polynomial.

    Parameters
    ----------
    size : int
        ``|F|`` used for the symbolic computation (at least 2; the entry formulas do not
        depend on it).
    """
    if size < 2:
        raise ValueError(f"size must be >= 2 to see off-diagonal entries, got {size}")
    gram, ys, ss = _gram(size)
    diagonal = sp.simplify(gram[0, 0].subs({ys[0]: y, ss[0]: s}))
    off_diagonal = sp.simplify(gram[0, 1].subs({ys[0]: y, ys[1]: y2}))
    if off_diagonal.has(*ss) or diagonal.has(*ys[1:], *ss[1:]):
        raise ArithmeticError("tangent-kernel entries depend on other samples; derivation inconsistent")
    # Unit norms: eigenvalues of the block, with a² = √Q = ||y|| substituted afterwards. A
    # multiplicity that grows with the size is written k − c (k = |F| symbolic): compare with
    # the block one size larger.
    here, larger = _unit_norm_spectrum(gram, ys, ss), _unit_norm_spectrum(*_gram(size + 1))
    if set(here) != set(larger):
        raise ArithmeticError("the unit-norm spectrum changes form with |F|")
    unit_eigenvalues = {
        value: (mult if larger[value] == mult else k_symbol - (size - mult)) for value, mult in here.items()
    }
    # |F| = 1: the block is its diagonal entry; it depends on y only through y², so it is
    # simplified for |y| (a positive symbol) and written back in terms of Abs(y).
    y_abs = sp.Symbol("y_abs", positive=True)
    single = diagonal.subs(a, saddle_derivation().output_weight_expr.subs(Q, y**2 / s**2)).subs(y, y_abs)
    single = sp.simplify(single).subs(y_abs, sp.Abs(y))
    return TangentKernelDerivation(diagonal, off_diagonal, unit_eigenvalues, single)


@dataclass(frozen=True)
class MinNormDerivation:
    """SymPy results for the minimal-norm interpolator (docs/math/implicit-bias.rst).

    Attributes
    ----------
    optimal_output_weight_expr : sympy.Expr
        Minimizer ``|a|`` of ``a² + Q/a²`` (``Q^{1/4}``).
    single_neuron_min_expr : sympy.Expr
        Least ``a² + ||w||²`` of one neuron fitting ``F`` (``2 √Q``).
    second_derivative_expr : sympy.Expr
        ``d²/da² (a² + Q/a²)`` at the minimizer (``8``, positive: a strict minimum).
    split_gap_expr : sympy.Expr
        ``(2√Q₁ + 2√Q₂) − 2√(Q₁ + Q₂)``: the extra cost of splitting a sign class over two
        neurons.
    split_gap_squares_expr : sympy.Expr
        ``(2√Q₁ + 2√Q₂)² − (2√(Q₁ + Q₂))² = 8 √Q₁ √Q₂ ≥ 0``; as both sides are positive,
        splitting never helps.
    kkt_residuals : tuple of sympy.Expr
        Stationarity and feasibility residuals of the Lagrangian of
        ``min a² + Σ z_i²  s.t.  a s_i z_i = y_i`` (two samples, ``z_i = u_i / s_i``)
        at the closed form; each simplifies to ``0``.
    total_min_expr : sympy.Expr
        ``2 (√Q₊ + √Q₋)`` in the symbols ``Q_plus, Q_minus``.
    """

    optimal_output_weight_expr: sp.Expr
    single_neuron_min_expr: sp.Expr
    second_derivative_expr: sp.Expr
    split_gap_expr: sp.Expr
    split_gap_squares_expr: sp.Expr
    kkt_residuals: tuple
    total_min_expr: sp.Expr


@functools.cache
def min_norm_derivation() -> MinNormDerivation:
    """Derive the minimal-norm interpolator and check its optimality conditions (docs/math/implicit-bias.rst).

    Notes
    -----
    A neuron fitting ``F`` needs ``a u_i = y_i``; its cost is ``a² + Σ u_i²/s_i² = a² + Q/a²``,
    minimized at ``a⁴ = Q``. A sign class split over neurons with ``Q₁ + Q₂ = Q`` costs
    ``2√Q₁ + 2√Q₂ ≥ 2√Q``; neurons of opposite output sign cannot share a sample's sign
    class. Hence the minimum over all widths is ``2 (||(y/s)₊|| + ||(y/s)₋||)``.
    """
    cost = a**2 + Q / a**2
    a_star = _unique(sp.solve(sp.diff(cost, a), a), "first-order condition")
    single_min = sp.simplify(cost.subs(a, a_star))
    second = sp.simplify(sp.diff(cost, a, 2).subs(a, a_star))
    q1, q2 = sp.symbols("Q_1 Q_2", positive=True)
    split_gap = single_min.subs(Q, q1) + single_min.subs(Q, q2) - single_min.subs(Q, q1 + q2)
    # both sides are positive, so the sign of the gap is that of the difference of squares
    split_gap_squares = sp.expand(
        (single_min.subs(Q, q1) + single_min.subs(Q, q2)) ** 2 - single_min.subs(Q, q1 + q2) ** 2
    )
    # Lagrangian check with two samples.
    y_1, y_2 = sp.symbols("y_1 y_2", positive=True)
    s_1, s_2 = sp.symbols("s_1 s_2", positive=True)
    z_1, z_2, mu_1, mu_2 = sp.symbols("z_1 z_2 mu_1 mu_2", real=True)
    lagrangian = a**2 + z_1**2 + z_2**2 - mu_1 * (a * s_1 * z_1 - y_1) - mu_2 * (a * s_2 * z_2 - y_2)
    variables = (a, z_1, z_2, mu_1, mu_2)
    q_two = y_1**2 / s_1**2 + y_2**2 / s_2**2
    a_closed = a_star.subs(Q, q_two)
    point = {a: a_closed, z_1: y_1 / (a_closed * s_1), z_2: y_2 / (a_closed * s_2)}
    # multipliers from ∂/∂z_i = 0: μ_i = 2 z_i / (a s_i)
    point[mu_1] = (2 * z_1 / (a * s_1)).subs(point)
    point[mu_2] = (2 * z_2 / (a * s_2)).subs(point)
    residuals = tuple(sp.simplify(sp.diff(lagrangian, v).subs(point)) for v in variables)
    q_plus, q_minus = sp.symbols("Q_plus Q_minus", nonnegative=True)
    total = single_min.subs(Q, q_plus) + single_min.subs(Q, q_minus)
    return MinNormDerivation(a_star, single_min, second, split_gap, split_gap_squares, residuals, total)


# ----------------------------------------------------------------------------- numerics


@functools.cache
def _numeric():
    """Lambdified numeric versions of the derived expressions (built once)."""
    saddle = saddle_derivation()
    kernel = tangent_kernel_derivation()
    return {
        "a_of_q": sp.lambdify(Q, saddle.output_weight_expr, "numpy"),
        "u_of_y_a": sp.lambdify((y, a), saddle.preactivation_expr, "numpy"),
        "norm_of_q": sp.lambdify(Q, saddle.squared_norm_expr, "numpy"),
        "loss_of_s_n": sp.lambdify((S, n), saddle.plateau_loss_expr, "numpy"),
        "kernel_diag": sp.lambdify((y, s, a, n), kernel.diagonal_expr, "numpy"),
        "kernel_off": sp.lambdify((y, y2, a, n), kernel.off_diagonal_expr, "numpy"),
    }


def _labels_norms(labels, norms):
    labels = np.asarray(labels, dtype=DTYPE).reshape(-1)
    norms = np.ones_like(labels) if norms is None else np.asarray(norms, dtype=DTYPE).reshape(-1)
    if labels.shape != norms.shape:
        raise ValueError(f"labels has shape {labels.shape} but norms has shape {norms.shape}")
    if not (np.all(np.isfinite(labels)) and np.all(np.isfinite(norms))):
        raise ValueError("labels and norms must be finite")
    if np.any(norms <= 0):
        raise ValueError("data norms must be > 0")
    return labels, norms


def _q(labels, norms) -> float:
    return float(np.sum((labels / norms) ** 2))


def _sign(sign) -> float:
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    return float(sign)


def saddle_output_weight(labels, norms=None, sign: int = 1) -> float:
    """``a_k = sgn_k (Σ_{i∈F} y_i²/s_i²)^{1/4}`` for a neuron fitting ``F`` (docs/math/saddles.rst).

    Parameters
    ----------
    labels, norms : array_like, shape ``(|F|,)``
        Labels and data norms of the fitted samples (norms default to 1).
    sign : {+1, -1}
        The neuron's sign ``sgn_k``.

    Raises
    ------
    ValueError
        ``F`` empty or all labels zero (there is no saddle), bad sign, non-positive norms.

    Examples
    --------
    >>> saddle_output_weight([4.0, 4.0, 4.0, 4.0], [2.0, 2.0, 2.0, 2.0])
    2.0
    """
    labels, norms = _labels_norms(labels, norms)
    q_value = _q(labels, norms)
    if q_value <= 0:
        raise ValueError("the fitted set carries no signal (empty or all labels zero): no saddle")
    return _sign(sign) * float(_numeric()["a_of_q"](q_value))


def saddle_preactivations(labels, norms=None, sign: int = 1) -> np.ndarray:
    """``U_ki = y_i / a_k`` on ``F`` (docs/math/saddles.rst), shape ``(|F|,)``."""
    labels, norms = _labels_norms(labels, norms)
    output = saddle_output_weight(labels, norms, sign)
    return np.asarray(_numeric()["u_of_y_a"](labels, output), dtype=DTYPE)


def neuron_squared_norm(labels, norms=None) -> float:
    """``a_k² + ||w_k||² = 2 (Σ_{i∈F} y_i²/s_i²)^{1/2}`` (docs/math/saddles.rst); ``0`` for an empty set."""
    labels, norms = _labels_norms(labels, norms)
    q_value = _q(labels, norms)
    return float(_numeric()["norm_of_q"](q_value)) if q_value > 0 else 0.0


def plateau_loss(remaining_labels, n_samples: int) -> float:
    """``(1/2n) Σ_{i∈R} y_i²``: the loss of a saddle leaving ``R`` unfitted (docs/math/saddles.rst)."""
    remaining = np.asarray(remaining_labels, dtype=DTYPE).reshape(-1)
    if int(n_samples) != n_samples or n_samples < max(1, remaining.size):
        raise ValueError(f"n_samples must be an integer >= max(1, |R|), got {n_samples!r}")
    return float(_numeric()["loss_of_s_n"](float(np.sum(remaining**2)), float(n_samples)))


def plateau_losses(labels, fitted_sets) -> np.ndarray:
    """Plateau losses before the first jump and after each one, shape (jumps + 1,).

    Parameters
    ----------
    labels : array_like, shape (n,)
    fitted_sets : sequence of int arrays
        Samples fitted at each jump, in order.
    """
    labels = np.asarray(labels, dtype=DTYPE).reshape(-1)
    remaining = labels != 0
    losses = [plateau_loss(labels[remaining], labels.size)]
    for fitted in fitted_sets:
        remaining[np.asarray(fitted, dtype=int)] = False
        losses.append(plateau_loss(labels[remaining], labels.size))
    return np.asarray(losses, dtype=DTYPE)


def learned_squared_norm(labels, norms, fitted_sets) -> float:
    """``Σ_k 2 ||(y/s)_{F_k}||_2``: squared norm of the final saddle.

    docs/math/saddles.rst, docs/math/implicit-bias.rst.
    """
    labels, norms = _labels_norms(labels, norms)
    total = 0.0
    for fitted in fitted_sets:
        fitted = np.asarray(fitted, dtype=int)
        total += neuron_squared_norm(labels[fitted], norms[fitted])
    return total


def min_squared_norm(labels, norms=None) -> float:
    """``2 (||(y/s)₊||_2 + ||(y/s)₋||_2)``: the least squared norm of an interpolator (docs/math/implicit-bias.rst).

    Examples
    --------
    >>> min_squared_norm([1.0, 1.0, -1.0, -1.0])
    5.656854249492381
    """
    labels, norms = _labels_norms(labels, norms)
    positive = labels > 0
    negative = labels < 0
    return neuron_squared_norm(labels[positive], norms[positive]) + neuron_squared_norm(
        labels[negative], norms[negative]
    )


def tangent_kernel_block(labels, norms, n_samples: int) -> np.ndarray:
    """``K_F = (y_F y_Fᵀ / a_k² + a_k² diag(s_F²)) / n`` at the saddle fitting ``F`` (docs/math/saddles.rst).

    Returns
    -------
    numpy.ndarray, shape ``(|F|, |F|)``
    """
    labels, norms = _labels_norms(labels, norms)
    numeric = _numeric()
    output = saddle_output_weight(labels, norms)
    block = np.asarray(numeric["kernel_off"](labels[:, None], labels[None, :], output, float(n_samples)), DTYPE)
    block = np.broadcast_to(block, (labels.size, labels.size)).copy()
    np.fill_diagonal(block, numeric["kernel_diag"](labels, norms, output, float(n_samples)))
    return block


def tangent_kernel_eigenvalues(labels, norms, n_samples: int) -> np.ndarray:
    """Eigenvalues of :func:`tangent_kernel_block`, ascending (docs/math/saddles.rst: local linear rates)."""
    return np.linalg.eigvalsh(tangent_kernel_block(labels, norms, n_samples))
