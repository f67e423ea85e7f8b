"""Early alignment: the scale-free phase at τ = 0+ (docs/math/alignment.rst).

While every neuron is O(σ) the residual is ``r = y`` and each neuron follows a linear,
piecewise-linear ODE whose outcome is a sign ``sgn_j ∈ {−1, 0, 1}`` and a good set
``G_j ⊆ {i : sgn_j y_i > 0}``.

Reduction used throughout (derived from docs/math/alignment.rst; ``z_i = U_ji / s_i``, ``v_i = y_i s_i``):
every active coordinate moves along ``v`` by one *common* scalar,

    z_i(t) = z_i(0) + v_i Φ(t),    Φ(t) = (1/n) ∫_0^t a(u) du,

so coordinate i dies exactly when Φ crosses its threshold ``θ_i = −z_i(0)/v_i`` (from
above if ``v_i > 0``, from below if ``v_i < 0``), and the alive set is a function of the
running extremes of Φ. Samples with ``y_i = 0`` never move and never join a good set.

*Gradient flow.* ``a² − ||z_A||²`` is conserved (coordinates die at exactly 0), so with
``C = a(0)² − Σ_{i∈A(0)} z_i(0)²``, while Φ moves in a fixed direction

    a² = C + Q(Φ),    Q(Φ) = Σ_{i alive at Φ} (z_i(0) + v_i Φ)².

``Q`` is quadratic between thresholds, and both its value and slope are continuous at a
threshold (the dying term and its derivative vanish there), so ``C + Q`` is C¹ and
convex along a monotone phase. Hence ``a`` changes sign at most once: at the first root
of ``C + Q`` in the direction of motion; after it the function starts at 0 with positive
slope and never returns. When ``C >= 0`` there is no root at all (the sign-stable case
``|ā_j| >= ||w̄_j||``). The outcome is exact and costs ``O(n log n)`` per
neuron that is not sign-stable, ``O(n)`` per neuron that is.

*Gradient descent* (step η). ``a² − ||w||²`` is not conserved and a large step may flip
``a`` even from a balanced init (docs/math/alignment.rst, "Gradient descent"), so every neuron is iterated exactly:
the 2-d recurrence ``a ← a + η q/n``, ``Φ ← Φ + η a/n`` with ``q = Σ_alive v_i z_i``, a
coordinate that steps to ``≤ 0`` freezes there. A neuron is settled when ``a > 0``,
``q >= 0`` and no coordinate with ``v_i < 0`` is alive (or the mirror image): then
``a`` and ``q`` only grow and no alive coordinate can die.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._values import as_real
from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem
from . import compiled as compiled_kernels
from .compiled import sign_stable_pass, use_compiled

__all__ = ["Alignment", "align", "check_step_size"]

#: Caps on gradient-descent alignment iterations (it needs about ln(range)/(η λ) of them):
#: the compiled loop (numba) runs ~10^8 per second, the numpy one ~10^4.
MAX_ALIGNMENT_STEPS = 200_000_000
MAX_ALIGNMENT_STEPS_NUMPY = 2_000_000
_HEAD = 512  # columns whose negative part tightens the cheap sign-stability bound
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_SAFE_LOW, _SAFE_HIGH = 2.0**-900, 2.0**900  # squares outside this range are re-checked exactly


@dataclass(frozen=True, eq=False)
class Alignment:
    """Outcome of early alignment (docs/math/alignment.rst).

    Attributes
    ----------
    signs : ndarray of int8, shape (m,)
        ``sgn_j ∈ {−1, 0, 1}``; 0 means the neuron never moves (degenerate init).
    good_sets : ndarray of bool, shape (m, n)
        ``G_j``: samples on which neuron j stays active and grows (``sgn_j y_i > 0``).
    sign_stable : ndarray of bool, shape (m,)
        Neurons whose outcome came from the sign-stable shortcut (gradient flow only).
    """

    signs: np.ndarray
    good_sets: np.ndarray
    sign_stable: np.ndarray


def check_step_size(step_size, *, allow_flow: bool = True) -> float | None:
    """Validate a step size: a finite number > 0, or ``None`` (gradient flow) if ``allow_flow``.

    Training code (which has no flow mode) calls it with ``allow_flow=False``. Numpy
    scalars and 0-d arrays or tensors are accepted (returned as a float).
    """
    expected = "None (gradient flow) or a finite number > 0" if allow_flow else "a finite number > 0 (the gradient-descent step η)"
    if step_size is None and allow_flow:
        return None
    try:  # numbers, numpy scalars, 0-d arrays and 0-d torch tensors (any device, grad or not)
        eta = as_real(step_size, "step_size")
    except TypeError:
        raise ValueError(f"step_size must be {expected}, got {step_size!r}") from None
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"step_size must be {expected}, got {step_size!r}")
    return eta


def check_compatible(problem: OrthogonalProblem, init: Initialization) -> None:
    """Raise ``ValueError`` if ``init`` was not drawn for ``problem``."""
    if not isinstance(problem, OrthogonalProblem):
        raise ValueError(f"problem must be an OrthogonalProblem, got {type(problem).__name__}")
    if not isinstance(init, Initialization):
        raise ValueError(f"init must be an Initialization, got {type(init).__name__}")
    if init.m and init.n != problem.n:
        raise ValueError(
            f"init has preactivations for n = {init.n} samples but the problem has n = {problem.n}"
        )


def align(problem: OrthogonalProblem, init: Initialization, step_size: float | None = None) -> Alignment:
    """Signs and good sets after early alignment (docs/math/alignment.rst), exactly.

    Parameters
    ----------
    problem : OrthogonalProblem
    init : Initialization
        Unit-scale ``(ā, Ū)``; only ratios matter (the phase is linear and scale-free).
    step_size : float, optional
        ``None`` for gradient flow, else the gradient-descent step η > 0.

    Returns
    -------
    Alignment

    Examples
    --------
    A balanced neuron keeps its sign; its good set is its active samples of that sign:

    >>> from jumpprocess import OrthogonalProblem, Initialization
    >>> p = OrthogonalProblem([1.0, -1.0, 2.0])
    >>> out = align(p, Initialization([[0.3, 0.4, -0.1]], [0.6]))
    >>> out.signs.tolist(), out.good_sets.tolist()
    ([1], [[True, False, False]])
    """
    check_compatible(problem, init)
    eta = check_step_size(step_size)
    m, n = init.m, problem.n
    signs = np.zeros(m, dtype=np.int8)
    good = np.zeros((m, n), dtype=bool)
    stable = np.zeros(m, dtype=bool)
    if m == 0:
        return Alignment(signs, good, stable)
    if eta is None:
        stable = _sign_stable_pass(problem, init, signs, good)
        for j in np.flatnonzero(~stable):
            signs[j], good[j] = _flow_outcome(problem, init.preactivations[j], init.output_weights[j])
    else:
        _descent_outcomes(problem, init, eta, signs, good)
    return Alignment(signs, good, stable)


def _sign_stable_pass(problem, init, signs, good, compiled: bool | None = None) -> np.ndarray:
    """The sign-stable shortcut for every neuron where it provably applies (docs/math/alignment.rst).

    A neuron is sign-stable under gradient flow when ``C_j = ā_j² − Σ_{Ū_ji>0} z_ji² >= 0``
    (module notes). The cheap sufficient test ``ā_j² >= Σ_i z_ji² − Σ_{i<h, Ū_ji<0} z_ji²``
    (one fused multiply-add pass, inflated by the worst-case summation error) settles
    most neurons, and every balanced or output-dominated one drawn by this package
    (:func:`~jumpprocess.balanced_init` rounds ``|ā|`` up so that ``|ā| >= ||w̄||`` holds
    exactly). Rows that fail it, or whose squares leave the normal float range, get the
    exact sign of ``C_j`` (:func:`_exact_sign_of_energy`). For the stable ones
    ``sgn_j = sign(ā_j)`` and ``G_j = {i : Ū_ji > 0, sgn_j y_i > 0}``.
    Returns the mask of stable neurons. ``compiled`` (default: for large ``m · n``) computes
    the cheap test and the good sets in one compiled pass
    (:func:`jumpprocess.limit.compiled.sign_stable_pass`); the decisions are the same.
    """
    a = init.output_weights
    U = init.preactivations
    n = problem.n
    if compiled is None:
        compiled = use_compiled(init.m, n)
    if compiled:  # one compiled pass over Ū (jumpprocess.limit.compiled): the same decisions
        stable = sign_stable_pass(U, a, problem.norms, problem.labels, good)
        for j in np.flatnonzero(~stable):
            if _exact_sign_of_energy(a[j], U[j], problem.norms) >= 0:
                stable[j] = True
                good[j] = (U[j] > 0) & (np.sign(problem.labels) == np.sign(a[j])) & (a[j] != 0)
        signs[stable] = np.sign(a[stable]).astype(np.int8)
        return stable
    inv_sq = problem.norms**-2.0
    with np.errstate(over="ignore", under="ignore"):
        if np.all(problem.norms == 1.0):
            total_sq = np.einsum("ji,ji->j", U, U)
        else:
            total_sq = np.einsum("ji,ji,i->j", U, U, inv_sq)
        head = min(n, _HEAD)
        U_head = U[:, :head]
        negative_head = np.einsum("ji,ji,i->j", np.minimum(U_head, 0.0), np.minimum(U_head, 0.0), inv_sq[:head])
        bound = total_sq * (1 + 4 * (n + 4) * _EPS) - negative_head * (1 - 4 * (head + 4) * _EPS)
        a_sq = a * a
    normal = (a_sq >= _SAFE_LOW) & (a_sq <= _SAFE_HIGH) & (total_sq >= _SAFE_LOW) & (total_sq <= _SAFE_HIGH)
    stable = normal & (a_sq >= bound)
    for j in np.flatnonzero(~stable):
        stable[j] = _exact_sign_of_energy(a[j], U[j], problem.norms) >= 0
    sgn = np.sign(a).astype(np.int8)
    positive, negative = problem.labels > 0, problem.labels < 0
    np.greater(U, 0.0, out=good)
    for j in range(init.m):
        if stable[j] and sgn[j] > 0:
            np.logical_and(good[j], positive, out=good[j])
        elif stable[j] and sgn[j] < 0:
            np.logical_and(good[j], negative, out=good[j])
        else:
            good[j] = False
    signs[stable] = sgn[stable]
    return stable


def _power_of_two_above(x: float) -> float:
    """A power of two >= x > 0: dividing by it rescales exactly (no rounding)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    return float(np.ldexp(1.0, int(np.frexp(x)[1])))


def _certain_sign(value: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Sign of ``value`` where ``|value| > bound`` (it is then certain), else 2 (undecided)."""
    return np.where(np.abs(value) > bound, np.sign(value), 2).astype(np.int8)


def _exact_sign_of_energy(a0: float, U_row: np.ndarray, norms: np.ndarray) -> int:
    """The sign of ``C = a0² − Σ_{U_i>0} (U_i/s_i)²``, exactly for the given floats.

    A float evaluation on power-of-two-rescaled values with a rigorous error bound decides
    almost always; otherwise the sum is redone in rational arithmetic.
    """
    positive = U_row > 0
    z = U_row[positive] / norms[positive]
    scale = _power_of_two_above(max(abs(a0), float(np.max(z, initial=0.0))))
    a, zs = a0 / scale, z / scale
    energy = float(zs @ zs)
    value = a * a - energy
    if abs(value) > 8 * (z.size + 4) * _EPS * (a * a + energy) + _TINY:
        return int(np.sign(value))
    exact = Fraction(a0) ** 2 - sum(
        (Fraction(float(u)) / Fraction(float(s))) ** 2 for u, s in zip(U_row[positive], norms[positive])
    )
    return (exact > 0) - (exact < 0)


def _flow_outcome(problem, preactivations, a0) -> tuple[int, np.ndarray]:
    """Exact gradient-flow outcome of one neuron that is not sign-stable (module notes).

    In the frame where Φ increases (direction ``sign(ā)``), decaying coordinates die at
    thresholds ``θ_1 <= θ_2 <= ...``. With ``V = C + Q`` convex (module notes), a turn
    exists iff ``min V <= 0``, and coordinate k died before the turn iff ``V(θ_k) >= 0`` and
    ``V'(θ_k) < 0`` (on the decreasing branch, up to the first root; a coordinate reaching
    0 at the very instant a does is dead, as in the event procedure of docs/math/alignment.rst). No root
    is computed: only signs, decided in floats with error bounds, or exactly
    (:func:`_flow_outcome_exact`) when a bound does not decide.
    """
    n = problem.n
    v_all = problem.signal
    alive = (preactivations > 0) & (v_all != 0)
    good = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(alive)
    if idx.size == 0:
        return int(np.sign(a0)), good
    z = preactivations[idx] / problem.norms[idx]
    v = v_all[idx]
    z_scale = _power_of_two_above(max(abs(a0), float(z.max())))
    v_scale = _power_of_two_above(float(np.abs(v).max()))
    a, z, v = a0 / z_scale, z / z_scale, v / v_scale  # exact rescaling (scale-free phase)
    k_bound = 8 * (idx.size + 8) * _EPS
    if a == 0:
        q0 = float(v @ z)
        q_sign = _certain_sign(np.array([q0]), np.array([k_bound * float(np.abs(v) @ z) + _TINY]))[0]
        if q_sign == 2:
            return _flow_outcome_exact(problem, preactivations, a0)
        if q_sign == 0:
            return 0, good  # a = 0 and no drive: the neuron never moves
        good[idx[v * q_sign > 0]] = True  # a starts at 0 with da/dt = q0/n: no later turn
        return int(q_sign), good
    direction = 1 if a > 0 else -1
    w = v * direction
    grow, decay = w > 0, w < 0
    G2, G1 = float(w[grow] @ w[grow]), float(w[grow] @ z[grow])
    wd, zd = -w[decay], z[decay]  # wd > 0
    theta = zd / wd
    order = np.argsort(theta, kind="stable")
    theta, wd, zd = theta[order], wd[order], zd[order]
    # After the k-th death (k = 1..K): D_k = Σ_{i<=k} z_i², alive decaying i > k.
    D = np.cumsum(zd * zd)
    S2 = np.concatenate((np.cumsum((wd * wd)[::-1])[::-1][1:], [0.0]))
    S1 = np.concatenate((np.cumsum((-wd * zd)[::-1])[::-1][1:], [0.0]))
    S1_abs = np.concatenate((np.cumsum((wd * zd)[::-1])[::-1][1:], [0.0]))
    A2, A1 = G2 + S2, G1 + S1
    a2 = a * a
    value = a2 - D + theta * (A2 * theta + 2 * A1)
    slope = A2 * theta + A1
    magnitude = a2 + D + theta * (A2 * theta + 2 * (G1 + S1_abs))
    value_sign = _certain_sign(value, k_bound * magnitude + _TINY)
    slope_sign = _certain_sign(slope, k_bound * (A2 * theta + G1 + S1_abs) + _TINY)
    # interior minima: segment k in [θ_k, θ_{k+1}] (θ_0 = 0), sums after k deaths
    seg_D = np.concatenate(([0.0], D))
    seg_A2 = np.concatenate(([G2 + float(wd @ wd)], A2))
    seg_A1 = np.concatenate(([G1 - float(wd @ zd)], A1))
    seg_A1_abs = np.concatenate(([G1 + float(wd @ zd)], G1 + S1_abs))
    left = np.concatenate(([0.0], theta))
    right = np.concatenate((theta, [np.inf]))
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(seg_A2 > 0, -seg_A1 / seg_A2, np.inf)
    inside = (seg_A2 > 0) & (centre > left) & (centre < right)
    depth = seg_A2 * (a2 - seg_D) - seg_A1 * seg_A1  # < 0 ⇔ the interior minimum is < 0
    depth_sign = _certain_sign(depth, k_bound * (seg_A2 * (a2 + seg_D) + seg_A1_abs**2) + _TINY)
    relevant_depth = depth_sign[inside]
    if np.any(value_sign == 2) or np.any(relevant_depth == 2) or np.any((value_sign >= 0) & (slope_sign == 2)):
        return _flow_outcome_exact(problem, preactivations, a0)
    turns = bool(np.any(value_sign <= 0) or np.any(relevant_depth <= 0))
    if not turns:
        good[idx[grow]] = True
        return direction, good
    died = (value_sign >= 0) & (slope_sign < 0)  # reaching 0 at the turn itself is dying (relu'(0) = 0)
    survivors = np.flatnonzero(decay)[order[~died]]
    good[idx[survivors]] = True
    return -direction, good


def _flow_outcome_exact(problem, preactivations, a0) -> tuple[int, np.ndarray]:
    """:func:`_flow_outcome` in rational arithmetic (used only when a float bound is undecided)."""
    n = problem.n
    good = np.zeros(n, dtype=bool)
    alive = np.flatnonzero((preactivations > 0) & (problem.signal != 0))
    if alive.size == 0:
        return int(np.sign(a0)), good
    z = {i: Fraction(float(preactivations[i])) / Fraction(float(problem.norms[i])) for i in alive}
    v = {i: Fraction(float(problem.labels[i])) * Fraction(float(problem.norms[i])) for i in alive}
    a = Fraction(float(a0))
    if a == 0:
        q = sum(v[i] * z[i] for i in alive)
        if q == 0:
            return 0, good
        direction = 1 if q > 0 else -1
        good[[i for i in alive if v[i] * direction > 0]] = True
        return direction, good
    direction = 1 if a > 0 else -1
    grow = [i for i in alive if v[i] * direction > 0]
    decay = sorted((i for i in alive if v[i] * direction < 0), key=lambda i: z[i] / abs(v[i]))
    G2 = sum((v[i] ** 2 for i in grow), Fraction(0))
    G1 = sum((abs(v[i]) * z[i] for i in grow), Fraction(0))
    S2 = sum((v[i] ** 2 for i in decay), Fraction(0))
    S1 = -sum((abs(v[i]) * z[i] for i in decay), Fraction(0))  # Σ w z with w = −|v|
    D = Fraction(0)
    turns, died = False, []
    # segment 0 interior minimum
    A2, A1 = G2 + S2, G1 + S1
    previous = Fraction(0)
    for i in decay:
        theta = z[i] / abs(v[i])
        if A2 > 0 and previous < -A1 / A2 < theta and A2 * (a * a - D) - A1 * A1 <= 0:
            turns = True
        D += z[i] ** 2
        S2 -= v[i] ** 2
        S1 += abs(v[i]) * z[i]
        A2, A1 = G2 + S2, G1 + S1
        value = a * a - D + theta * (A2 * theta + 2 * A1)
        if value <= 0:
            turns = True
        if value >= 0 and A2 * theta + A1 < 0:
            died.append(i)
        previous = theta
    if A2 > 0 and -A1 / A2 > previous and A2 * (a * a - D) - A1 * A1 <= 0:
        turns = True
    if not turns:
        good[grow] = True
        return direction, good
    good[[i for i in decay if i not in set(died)]] = True
    return -direction, good


def _descent_outcomes(problem, init, eta, signs, good, loop: str = "auto") -> None:
    """Exact gradient-descent alignment of all neurons at once (module notes).

    ``loop`` chooses the iteration (:func:`_iterate_descent`): ``"auto"``, ``"numpy"`` or
    ``"compiled"``; the results are identical.

    All neurons step together; per neuron the decaying thresholds are sorted once so a
    step's deaths are found by advancing a pointer. Cost: one ``O(m n log n)`` sort plus
    ``O(m)`` per step, the number of steps being what the slowest neuron needs to settle.
    """
    n = problem.n
    v = problem.signal
    U = init.preactivations
    a = init.output_weights.astype(float).copy()
    m = a.size
    z0 = U / problem.norms
    alive0 = (U > 0) & (v != 0)[None, :]
    # One sort of the thresholds θ_i = −z_i(0)/v_i of alive coordinates (non-alive: NaN, last):
    # θ > 0 (v < 0) die as Φ rises, in ascending order; θ < 0 (v > 0) die as Φ falls, in
    # descending order. Equal thresholds die on the same step, so their order is irrelevant.
    with np.errstate(divide="ignore", invalid="ignore"):
        key = np.where(alive0, -z0 / v[None, :], np.nan)
    order = np.argsort(key, axis=1)
    n_dn = np.count_nonzero(alive0 & (v > 0)[None, :], axis=1)
    n_up = np.count_nonzero(alive0 & (v < 0)[None, :], axis=1)
    sides = []
    for count, step_dir in ((n_up, 1), (n_dn, -1)):
        width = max(int(count.max(initial=0)), 1)
        offsets = np.arange(width)[None, :]
        # up: positions n_dn .. n_dn + n_up − 1; down: positions n_dn − 1 down to 0
        positions = n_dn[:, None] + offsets if step_dir > 0 else n_dn[:, None] - 1 - offsets
        valid = offsets < count[:, None]
        side_order = np.take_along_axis(order, np.clip(positions, 0, n - 1), axis=1)
        theta = np.where(valid, np.take_along_axis(key, side_order, axis=1), np.inf * step_dir)
        v_sorted = np.where(valid, v[side_order], 0.0)
        vv = v_sorted * v_sorted
        vz = np.where(valid, -np.where(valid, theta, 0.0) * vv, 0.0)  # v z0 = −θ v²
        cum_vv = np.concatenate((np.zeros((m, 1)), np.cumsum(vv, axis=1)), axis=1)
        cum_vz = np.concatenate((np.zeros((m, 1)), np.cumsum(vz, axis=1)), axis=1)
        sides.append((np.ascontiguousarray(theta), side_order, cum_vv, cum_vz, count.astype(np.int64)))
    (theta_up, order_up, vv_up, vz_up, n_up), (theta_dn, order_dn, vv_dn, vz_dn, n_dn) = sides
    dead_up = np.zeros(m, dtype=np.int64)  # how many decaying-upward coordinates have died
    dead_dn = np.zeros(m, dtype=np.int64)
    arrays = (theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn)
    settled, cap, used_compiled = _iterate_descent(a, arrays, float(eta), float(n), dead_up, dead_dn, loop)
    blown = ~settled & ~np.isfinite(a)
    if blown.any():  # a grew past float64: the loops stop there instead of running to the cap
        drive = float(eta) * float(np.sqrt(np.sum(v * v))) / n
        raise ValueError(
            f"the gradient-descent alignment overflowed: neurons {np.flatnonzero(blown).tolist()[:10]} grow by a "
            f"factor of up to 1 + η||y s||/n = 1 + {drive:.3g} per step until float64 overflows. So large a step "
            "is unstable (gradient descent needs η·λ_max(K) < 2 near the saddles, docs/math/convergence.rst): use a "
            "smaller step_size, or gradient flow (step_size=None)"
        )
    if not settled.all():
        hint = "" if used_compiled else " (numba could not be imported: reinstall jumpprocess for the compiled loop)"
        raise ValueError(
            f"step_size = {eta!r} is too small for the exact gradient-descent alignment: neurons "
            f"{np.flatnonzero(~settled).tolist()[:10]} did not settle in {cap} steps "
            "(it needs about 1/(η λ) of them); use gradient flow (step_size=None), whose limit the "
            f"gradient-descent one approaches as η → 0{hint}"
        )
    signs[:] = np.sign(a).astype(np.int8)  # a == 0 here only for a neuron that never moves
    for j in range(m):
        if signs[j] == 0:
            continue
        order, dead = (order_dn, dead_dn) if signs[j] > 0 else (order_up, dead_up)
        # growing side: coordinates with sgn_j v_i > 0 that did not die on the way
        member = alive0[j] & (np.sign(v) == signs[j])
        died = order[j, : dead[j]]
        member[died] = False
        good[j] = member


# ---- the gradient-descent loop: numpy (vectorized over neurons) and numba (per neuron) ----
# Both perform, per neuron, the same IEEE operations in the same order, so their results
# are bit-identical (tested), and one can take over from the other mid-way (the state is
# a, Φ and the death counts). Small steps at large n need ~1/(ηλ) iterations: the compiled
# loop runs ~10^4 times faster, but loading it costs ~1 s once per process.

#: Until the compiled loop is loaded, the numpy loop runs first for up to this much CPU
#: time (seconds, ``time.process_time``: a busy machine does not shorten it), in chunks of
#: ``_NUMPY_CHUNK`` steps: most step sizes settle within it, so a first gradient-descent
#: ``simulate`` need not load numba at all (which costs about a second once per process).
_NUMPY_FIRST_SECONDS = 0.25
_NUMPY_CHUNK = 256


def _iterate_descent(a, arrays, eta, n, dead_up, dead_dn, loop: str = "auto"):
    """Iterate every neuron until it settles; returns ``(settled, cap, compiled_used)``.

    ``"numpy"``: the numpy loop alone (cap ``MAX_ALIGNMENT_STEPS_NUMPY``). ``"compiled"``:
    the compiled loop from the start. ``"auto"``: the compiled loop if it is loaded in this
    process, else the numpy loop for up to ``_NUMPY_FIRST_SECONDS`` of CPU time and then the
    compiled loop from the state reached. The step cap counts the steps of both.
    """
    if loop not in ("auto", "numpy", "compiled"):
        raise ValueError(f"loop must be 'auto', 'numpy' or 'compiled', got {loop!r}")
    phi = np.zeros(a.size)
    used = 0
    numpy_steps = {"numpy": MAX_ALIGNMENT_STEPS_NUMPY, "compiled": 0}.get(loop)
    if numpy_steps is None:
        numpy_steps = 0 if compiled_kernels.is_loaded("descent") else MAX_ALIGNMENT_STEPS_NUMPY
    start = time.process_time()
    while used < numpy_steps:
        chunk = min(_NUMPY_CHUNK, numpy_steps - used)
        settled = _descent_loop_numpy(a, *arrays, eta, n, chunk, dead_up, dead_dn, phi)
        used += chunk
        if (settled | ~np.isfinite(a)).all() or (loop == "numpy" and used == numpy_steps):
            return settled, MAX_ALIGNMENT_STEPS_NUMPY, False
        if loop == "auto" and time.process_time() - start > _NUMPY_FIRST_SECONDS:
            break
    kernel = _compiled_descent_loop()
    if kernel is None:  # pragma: no cover - numba is a core dependency
        rest = max(MAX_ALIGNMENT_STEPS_NUMPY - used, 0)
        return _descent_loop_numpy(a, *arrays, eta, n, rest, dead_up, dead_dn, phi), MAX_ALIGNMENT_STEPS_NUMPY, False
    return kernel(a, *arrays, eta, n, MAX_ALIGNMENT_STEPS - used, dead_up, dead_dn, phi), MAX_ALIGNMENT_STEPS, True


def _descent_loop_numpy(a, theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn, eta, n, max_steps, dead_up, dead_dn,
                        phi):
    """Iterate ``a ← a + η q/n``, ``Φ ← Φ + η a/n`` until settled; updates ``a``, ``Φ`` and the death counts."""
    m = a.size
    rows = np.arange(m)
    settled = np.zeros(m, dtype=bool)
    for _ in range(max_steps):
        # alive sums read from prefix sums (never by repeated subtraction): an emptied side is exactly 0
        S2 = (vv_up[rows, n_up] - vv_up[rows, dead_up]) + (vv_dn[rows, n_dn] - vv_dn[rows, dead_dn])
        S1 = (vz_up[rows, n_up] - vz_up[rows, dead_up]) + (vz_dn[rows, n_dn] - vz_dn[rows, dead_dn])
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowed row is stopped below
            q = S1 + S2 * phi
        up_done = dead_up == n_up
        dn_done = dead_dn == n_dn
        settled = ((a > 0) & (q >= 0) & up_done) | ((a < 0) & (q <= 0) & dn_done) | (up_done & dn_done)
        settled |= (a == 0) & (q == 0)  # no motion at all: the neuron never moves (sign 0)
        blown = ~(np.isfinite(a) & np.isfinite(phi))  # overflowed: stopped, reported by the caller
        if (settled | blown).all():
            break
        moving = ~settled & ~blown
        with np.errstate(over="ignore", invalid="ignore"):  # rows that do not move are discarded
            a_next = a + eta * q / n
            phi[:] = np.where(moving, phi + eta * a / n, phi)
        a[:] = np.where(moving, a_next, a)
        # deaths: a coordinate that steps to <= 0 freezes (relu'(0) = 0)
        for theta, dead, count, up in ((theta_up, dead_up, n_up, True), (theta_dn, dead_dn, n_dn, False)):
            nxt = theta[rows, np.minimum(dead, theta.shape[1] - 1)]
            crossing = (dead < count) & ((phi >= nxt) if up else (phi <= nxt))
            for j in np.flatnonzero(crossing):
                row = theta[j, : count[j]]
                dead[j] = np.searchsorted(row, phi[j], side="right") if up else np.searchsorted(-row, -phi[j], side="right")
    return settled


def _descent_loop_scalar(a, theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn, eta, n, max_steps, dead_up, dead_dn,
                         phis):
    """Per-neuron version of :func:`_descent_loop_numpy` (compiled by numba)."""
    m = a.size
    settled = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        phi = phis[j]
        aj = a[j]
        du = dead_up[j]
        dd = dead_dn[j]
        for _ in range(max_steps):
            if not (np.isfinite(aj) and np.isfinite(phi)):
                break  # overflowed: stopped, reported by the caller
            S2 = (vv_up[j, n_up[j]] - vv_up[j, du]) + (vv_dn[j, n_dn[j]] - vv_dn[j, dd])
            S1 = (vz_up[j, n_up[j]] - vz_up[j, du]) + (vz_dn[j, n_dn[j]] - vz_dn[j, dd])
            q = S1 + S2 * phi
            up_done = du == n_up[j]
            dn_done = dd == n_dn[j]
            if (aj > 0 and q >= 0 and up_done) or (aj < 0 and q <= 0 and dn_done) or (up_done and dn_done) or (aj == 0 and q == 0):
                settled[j] = True
                break
            a_next = aj + eta * q / n
            phi = phi + eta * aj / n
            aj = a_next
            while du < n_up[j] and phi >= theta_up[j, du]:
                du += 1
            while dd < n_dn[j] and phi <= theta_dn[j, dd]:
                dd += 1
        a[j] = aj
        phis[j] = phi
        dead_up[j] = du
        dead_dn[j] = dd
    return settled


def _warm_descent():
    one, index = np.zeros((1, 1)), np.zeros(1, dtype=np.int64)
    return (np.ones(1), one, one, one, index, one, one, one, index.copy(), 0.1, 1.0, 1, index.copy(), index.copy(), np.zeros(1))


def _compiled_descent_loop():
    """The numba-compiled scalar loop (loaded once per process, timed), or ``None`` without numba."""
    return compiled_kernels.kernel("descent", _descent_loop_scalar, _warm_descent)
