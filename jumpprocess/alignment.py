"""Early alignment: the scale-free phase at τ = 0+ (spec §3).

While every neuron is O(σ) the residual is ``r = y`` and each neuron follows a linear,
piecewise-linear ODE whose outcome is a sign ``sgn_j ∈ {−1, 0, 1}`` and a good set
``G_j ⊆ {i : sgn_j y_i > 0}``.

Reduction used throughout (derived from spec §3; ``z_i = U_ji / s_i``, ``v_i = y_i s_i``):
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
``|ā_j| >= ||w̄_j||`` of the spec). The outcome is exact and costs ``O(n log n)`` per
neuron that is not sign-stable, ``O(n)`` per neuron that is.

*Gradient descent* (step η). ``a² − ||w||²`` is not conserved and a large step may flip
``a`` even from a balanced init (spec §3 caution), so every neuron is iterated exactly:
the 2-d recurrence ``a ← a + η q/n``, ``Φ ← Φ + η a/n`` with ``q = Σ_alive v_i z_i``, a
coordinate that steps to ``≤ 0`` freezes there. A neuron is settled when ``a > 0``,
``q >= 0`` and no coordinate with ``v_i < 0`` is alive (or the mirror image): then
``a`` and ``q`` only grow and no alive coordinate can die.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .initialization import Initialization
from .problem import OrthogonalProblem

__all__ = ["Alignment", "align", "check_step_size"]

#: Hard cap on gradient-descent alignment iterations (a neuron that has not settled by then
#: is degenerate: its growing and decaying modes balance to within rounding).
MAX_ALIGNMENT_STEPS = 10_000_000
_HEAD = 512  # columns whose negative part tightens the cheap sign-stability bound


@dataclass(frozen=True, eq=False)
class Alignment:
    """Outcome of early alignment (spec §3).

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


def check_step_size(step_size) -> float | None:
    """Validate a step size: ``None`` (gradient flow) or a finite number > 0."""
    if step_size is None:
        return None
    if isinstance(step_size, bool) or not isinstance(step_size, numbers.Real):
        raise ValueError(f"step_size must be None (gradient flow) or a positive number, got {step_size!r}")
    eta = float(step_size)
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"step_size must be None (gradient flow) or a finite number > 0, got {step_size!r}")
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
    """Signs and good sets after early alignment (spec §3), exactly.

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


def _sign_stable_pass(problem, init, signs, good) -> np.ndarray:
    """The sign-stable shortcut for every neuron where it provably applies (spec §3).

    A neuron is sign-stable under gradient flow when ``C_j = ā_j² − Σ_{Ū_ji>0} z_ji² >= 0``
    (module notes). The cheap sufficient test ``ā_j² >= Σ_i z_ji²`` (all coordinates: one
    fused multiply-add pass, no temporaries) settles most neurons, and for example every
    balanced or output-dominated one, since ``ā_j² >= ||w̄_j||² >= Σ_i z_ji²``; the rows that
    fail it get the exact test. For the stable ones ``sgn_j = sign(ā_j)`` and
    ``G_j = {i : Ū_ji > 0, sgn_j y_i > 0}``, written into ``signs`` and ``good``.
    Returns the mask of stable neurons.
    """
    a = init.output_weights
    U = init.preactivations
    n = problem.n
    inv_sq = problem.norms**-2.0
    if np.all(problem.norms == 1.0):
        total_sq = np.einsum("ji,ji->j", U, U)
    else:
        total_sq = np.einsum("ji,ji,i->j", U, U, inv_sq)
    # Rigorous cheap bound: Σ_{Ū>0} z² <= Σ_i z² − Σ_{i<h, Ū<0} z² (all terms >= 0), with
    # each computed sum inflated/deflated by the worst-case summation error (k-1)·u·Σ.
    head = min(n, _HEAD)
    U_head = U[:, :head]
    negative_head = np.einsum("ji,ji,i->j", np.minimum(U_head, 0.0), np.minimum(U_head, 0.0), inv_sq[:head])
    u = np.finfo(np.float64).eps
    bound = total_sq * (1 + 2 * n * u) - negative_head * (1 - 2 * head * u)
    stable = a * a >= bound
    for j in np.flatnonzero(~stable):
        z = np.maximum(U[j], 0.0) / problem.norms
        stable[j] = a[j] * a[j] >= z @ z
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


def _flow_outcome(problem, preactivations, a0) -> tuple[int, np.ndarray]:
    """Exact gradient-flow outcome of one neuron that is not sign-stable (module notes)."""
    n = problem.n
    v = problem.signal
    z0 = preactivations / problem.norms
    alive = (preactivations > 0) & (v != 0)
    good = np.zeros(n, dtype=bool)
    C = a0 * a0 - float(np.sum(z0[alive] ** 2))
    q0 = float(np.sum(v[alive] * z0[alive]))
    if a0 != 0:
        direction = 1 if a0 > 0 else -1
    elif q0 != 0:
        direction = 1 if q0 > 0 else -1  # a starts at 0 with da/dt = q0/n: no later turn
    else:
        return 0, good  # a = 0 and no drive: the neuron never moves
    turn = _first_root(C, v * direction, z0, alive) if a0 != 0 else None
    if turn is None:
        good[alive & (v * direction > 0)] = True
        return direction, good
    # After the (unique) turn the neuron grows with sign −direction on the samples that
    # were decaying before the turn and had not died by Φ = turn.
    decaying = alive & (v * direction < 0)
    survived = decaying & (z0 / np.abs(np.where(v == 0, 1.0, v)) > turn)
    good[survived] = True
    return -direction, good


def _first_root(C: float, v: np.ndarray, z0: np.ndarray, alive: np.ndarray) -> float | None:
    """First Φ > 0 with ``C + Q(Φ) = 0`` while Φ increases (frame where motion is +).

    Decaying coordinates (``v_i < 0``) die at ``θ_i = z_i(0)/|v_i|`` in increasing order;
    on the segment after the k-th death, ``Q`` is the quadratic
    ``A2 Φ² + 2 A1 Φ + A0`` of the sums over the alive set. Because ``C + Q`` is convex,
    its first root lies on the segment where it crosses zero going down, at that
    segment's smaller root. Returns ``None`` when ``C + Q > 0`` for all Φ > 0.
    """
    if C >= 0:
        return None
    growing = alive & (v > 0)
    decaying = alive & (v < 0)
    vd, zd = v[decaying], z0[decaying]
    theta = zd / -vd
    order = np.argsort(theta, kind="stable")
    theta, vd, zd = theta[order], vd[order], zd[order]
    # Suffix sums: segment k (k = 0..K) has decaying coordinates k..K-1 alive.
    def suffix(x):
        out = np.zeros(x.size + 1)
        out[:-1] = np.cumsum(x[::-1])[::-1]
        return out

    A2 = float(np.sum(v[growing] ** 2)) + suffix(vd * vd)
    A1 = float(np.sum(v[growing] * z0[growing])) + suffix(vd * zd)
    A0 = float(np.sum(z0[growing] ** 2)) + suffix(zd * zd)
    left = np.concatenate(([0.0], theta))
    right = np.concatenate((theta, [np.inf]))
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = A1 * A1 - A2 * (A0 + C)
        root = (-A1 - np.sqrt(disc)) / A2
    valid = (A2 > 0) & (disc >= 0) & (root >= left) & (root <= right) & (root > 0)
    hits = np.flatnonzero(valid)
    return float(root[hits[0]]) if hits.size else None


def _descent_outcomes(problem, init, eta, signs, good) -> None:
    """Exact gradient-descent alignment of all neurons at once (module notes).

    All neurons step together; per neuron the decaying thresholds are sorted once so a
    step's deaths are found by advancing a pointer. Cost: ``O(m n log n)`` plus
    ``O(m)`` per step, the number of steps being what the slowest neuron needs to settle.
    """
    n = problem.n
    v = problem.signal
    U = init.preactivations
    a = init.output_weights.astype(float).copy()
    m = a.size
    z0 = U / problem.norms
    alive0 = (U > 0) & (v != 0)[None, :]
    phi = np.zeros(m)
    # Upward deaths (v < 0): threshold z0/|v|, ascending. Downward (v > 0): −z0/v, descending.
    sides = []
    for mask_sign in (-1.0, 1.0):
        member = alive0 & (np.sign(v)[None, :] == mask_sign)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(member, -z0 / v[None, :], np.inf * -mask_sign)
        order = np.argsort(theta * -mask_sign, axis=1, kind="stable")  # crossing order
        theta = np.take_along_axis(theta, order, axis=1)
        vv = np.take_along_axis(np.where(member, v * v, 0.0), order, axis=1)
        vz = np.take_along_axis(np.where(member, v * z0, 0.0), order, axis=1)
        cum_vv = np.concatenate((np.zeros((m, 1)), np.cumsum(vv, axis=1)), axis=1)
        cum_vz = np.concatenate((np.zeros((m, 1)), np.cumsum(vz, axis=1)), axis=1)
        count = member.sum(axis=1)
        sides.append((theta, order, cum_vv, cum_vz, count))
    (theta_up, order_up, vv_up, vz_up, n_up), (theta_dn, order_dn, vv_dn, vz_dn, n_dn) = sides
    dead_up = np.zeros(m, dtype=np.int64)  # how many decaying-upward coordinates have died
    dead_dn = np.zeros(m, dtype=np.int64)
    arrays = (theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn)
    kernel = _compiled_descent_loop()
    loop = kernel if kernel is not None else _descent_loop_numpy
    settled = loop(a, *arrays, float(eta), float(n), MAX_ALIGNMENT_STEPS, dead_up, dead_dn)
    if not settled.all():
        raise RuntimeError(
            f"gradient-descent alignment did not settle in {MAX_ALIGNMENT_STEPS} steps for neurons "
            f"{np.flatnonzero(~settled).tolist()[:10]} (degenerate initialization?)"
        )
    no_alive = (dead_up == n_up) & (dead_dn == n_dn)
    signs[:] = np.sign(a).astype(np.int8)
    signs[no_alive & (a == 0)] = 0
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
# are bit-identical (tested); numba (the ``scale`` extra) is used when installed because
# small steps at large n need ~1/(ηλ) iterations.


def _descent_loop_numpy(a, theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn, eta, n, max_steps, dead_up, dead_dn):
    """Iterate ``a ← a + η q/n``, ``Φ ← Φ + η a/n`` until settled; updates ``a`` and the death counts."""
    m = a.size
    rows = np.arange(m)
    phi = np.zeros(m)
    settled = np.zeros(m, dtype=bool)
    for _ in range(max_steps):
        # alive sums read from prefix sums (never by repeated subtraction): an emptied side is exactly 0
        S2 = (vv_up[rows, n_up] - vv_up[rows, dead_up]) + (vv_dn[rows, n_dn] - vv_dn[rows, dead_dn])
        S1 = (vz_up[rows, n_up] - vz_up[rows, dead_up]) + (vz_dn[rows, n_dn] - vz_dn[rows, dead_dn])
        q = S1 + S2 * phi
        up_done = dead_up == n_up
        dn_done = dead_dn == n_dn
        settled = ((a > 0) & (q >= 0) & up_done) | ((a < 0) & (q <= 0) & dn_done) | (up_done & dn_done)
        if settled.all():
            break
        moving = ~settled
        a_next = a + eta * q / n
        phi = np.where(moving, phi + eta * a / n, phi)
        a[:] = np.where(moving, a_next, a)
        # deaths: a coordinate that steps to <= 0 freezes (relu'(0) = 0)
        for theta, dead, count, up in ((theta_up, dead_up, n_up, True), (theta_dn, dead_dn, n_dn, False)):
            nxt = theta[rows, np.minimum(dead, theta.shape[1] - 1)]
            crossing = (dead < count) & ((phi >= nxt) if up else (phi <= nxt))
            for j in np.flatnonzero(crossing):
                row = theta[j, : count[j]]
                dead[j] = np.searchsorted(row, phi[j], side="right") if up else np.searchsorted(-row, -phi[j], side="right")
    return settled


def _descent_loop_scalar(a, theta_up, vv_up, vz_up, n_up, theta_dn, vv_dn, vz_dn, n_dn, eta, n, max_steps, dead_up, dead_dn):
    """Per-neuron version of :func:`_descent_loop_numpy` (compiled by numba when available)."""
    m = a.size
    settled = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        phi = 0.0
        aj = a[j]
        du = dead_up[j]
        dd = dead_dn[j]
        for _ in range(max_steps):
            S2 = (vv_up[j, n_up[j]] - vv_up[j, du]) + (vv_dn[j, n_dn[j]] - vv_dn[j, dd])
            S1 = (vz_up[j, n_up[j]] - vz_up[j, du]) + (vz_dn[j, n_dn[j]] - vz_dn[j, dd])
            q = S1 + S2 * phi
            up_done = du == n_up[j]
            dn_done = dd == n_dn[j]
            if (aj > 0 and q >= 0 and up_done) or (aj < 0 and q <= 0 and dn_done) or (up_done and dn_done):
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
        dead_up[j] = du
        dead_dn[j] = dd
    return settled


_KERNEL_CACHE = {}


def _compiled_descent_loop():
    """The numba-compiled scalar loop, or ``None`` if numba is not installed."""
    if "kernel" not in _KERNEL_CACHE:
        try:
            import numba
        except ImportError:
            _KERNEL_CACHE["kernel"] = None
        else:
            _KERNEL_CACHE["kernel"] = numba.njit(cache=True)(_descent_loop_scalar)
    return _KERNEL_CACHE["kernel"]
