"""The reduced finite-σ dynamics: residual, gradient-flow vector field, gradient-descent map.

Compiled with numba; imported only when a finite-σ run is requested, so ``import
jumpprocess`` does not load numba.

An alive coordinate is ``≥ 0`` (it freezes when it reaches 0), so ``relu(U_ji) = s_i z_ji``
on alive coordinates and the vector field is polynomial between deaths, which the
integrator locates (:mod:`.integrator`).

State (docs/math/reduction.rst, docs/math/finite-sigma.rst "The hybrid engine"): neuron j is
``(a_j, z_j·)`` with ``z_ji = U_ji / s_i``, stored as a row ``X[j] = (a_j, z_j1, …, z_jn)``,
and an explicit mask ``alive[j, i]`` (the ReLU indicator ``1[U_ji > 0]``: a coordinate that
reaches 0 is frozen forever). A neuron is either *large* (``large[j]``: raw values,
included in the residual) or *small* (values in the neuron's own units, i.e. the true
neuron is ``exp(log_scale[j]) · X[j]``; left out of the residual, which makes it exactly
linear). With ``v_i = y_i s_i`` the equations are

    r_i      = y_i − Σ_{j large} a_j s_i z_ji 1[alive]
    da_j/dt  = (1/n) Σ_i r_i s_i z_ji 1[alive]
    dz_ji/dt = (s_i / n) a_j r_i 1[alive]

and gradient descent applies ``X ← X + η · dX/dt`` (all from the old state) and freezes
every alive coordinate that stepped to ``≤ 0`` at that value. For a small neuron these are
the same bilinear equations, linear in its own state because its own share of the residual
is dropped (relative error O(amplitude²)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["alive_index", "compact", "step_listed", "subtract_share", "max_gap", "confirm_converged",
           "needs_rescale", "rescale_small", "residual", "residual_on", "flow_derivative", "flow_derivative_on", "residual_rate",
           "row_amplitude", "amplitudes", "amplitudes_on", "covered_residual", "covered_residual_on", "stationarity_gap",
           "descent_window", "manage_small"]


@njit(cache=True)
def alive_index(alive):
    """Per neuron, the indices of its alive coordinates in increasing order, and their count.

    Every pass over a neuron runs over this list: a dead coordinate has zero gradient and
    no share of the residual, and summing the alive ones in the same increasing order
    gives the same bits as a pass over the whole row.
    """
    m, n = alive.shape
    index = np.empty((m, n), dtype=np.int64)
    count = np.zeros(m, dtype=np.int64)
    for j in range(m):
        for i in range(n):
            if alive[j, i]:
                index[j, count[j]] = i
                count[j] += 1
    return index, count


@njit(cache=True, inline="always")
def compact(index, count, alive, j):
    """Drop neuron j's dead coordinates from its list ``index[j, :count[j]]`` (order kept)."""
    kept = 0
    for q in range(count[j]):
        i = index[j, q]
        if alive[j, i]:
            index[j, kept] = i
            kept += 1
    count[j] = kept


@njit(cache=True, inline="always")
def step_listed(X, alive, j, listed, listed_count, rs, scale):
    """One descent step of neuron j's coordinates ``listed[j, :listed_count[j]]`` (old values
    on the right-hand side): ``z += scale · r_i s_i``, with ``rs = r s``. Returns the
    output-weight gradient sum ``Σ r_i s_i z_i`` over them (old z), their new ``Σ z²`` over
    the survivors and whether one died; a coordinate that stepped to ``≤ 0`` is marked dead,
    keeps that value and leaves the list."""
    acc = 0.0
    amp2 = 0.0
    dies = False
    count = listed_count[j]
    for q in range(count):
        i = listed[j, q]
        g = rs[i]
        z = X[j, i + 1]
        acc += g * z
        z += scale * g
        X[j, i + 1] = z
        amp2 += z * z
        dies |= z <= 0.0
    if dies:
        for q in range(count):
            i = listed[j, q]
            z = X[j, i + 1]
            if z <= 0.0:
                amp2 -= z * z
                alive[j, i] = False
        compact(listed, listed_count, alive, j)
    return acc, amp2, dies


@njit(cache=True, inline="always")
def subtract_share(r_next, X, j, a, s, listed, listed_count):
    """``r_next_i −= a_j s_i z_ji`` over neuron j's listed coordinates."""
    for q in range(listed_count[j]):
        i = listed[j, q]
        r_next[i] -= a * s[i] * X[j, i + 1]


@njit(cache=True)
def residual_on(X, index, count, large, y, s):
    """:func:`residual` with the alive coordinates given by :func:`alive_index`."""
    m = X.shape[0]
    r = y.copy()
    for j in range(m):
        if not large[j]:
            continue
        a = X[j, 0]
        if a == 0.0:
            continue
        subtract_share(r, X, j, a, s, index, count)
    return r


@njit(cache=True)
def residual(X, alive, large, y, s):
    """``r = y − f(x)`` with only the large neurons counted (shape (n,))."""
    index, count = alive_index(alive)
    return residual_on(X, index, count, large, y, s)


@njit(cache=True)
def flow_derivative_on(X, index, count, r, s, out):
    """``dX/dt`` on the alive coordinates (and the output weights) only; ``out`` must
    already be 0 on the dead ones."""
    m, n1 = X.shape
    inv_n = 1.0 / (n1 - 1)
    for j in range(m):
        a = X[j, 0]
        acc = 0.0
        for q in range(count[j]):
            i = index[j, q]
            ri = r[i] * s[i]
            acc += ri * X[j, i + 1]
            out[j, i + 1] = ri * a * inv_n
        out[j, 0] = acc * inv_n


@njit(cache=True)
def flow_derivative(X, alive, r, s, out):
    """``dX/dt`` of every neuron given the residual ``r`` (written into ``out``)."""
    index, count = alive_index(alive)
    out[:, :] = 0.0
    flow_derivative_on(X, index, count, r, s, out)


@njit(cache=True)
def residual_rate(X, dX, alive, large, s):
    """``dr/dt = −Σ_{j large} s_i (da_j z_ji + a_j dz_ji)`` over alive coordinates."""
    m, n1 = X.shape
    n = n1 - 1
    out = np.zeros(n)
    for j in range(m):
        if not large[j]:
            continue
        a = X[j, 0]
        da = dX[j, 0]
        for i in range(n):
            if alive[j, i]:
                out[i] -= s[i] * (da * X[j, i + 1] + a * dX[j, i + 1])
    return out


@njit(cache=True)
def amplitudes_on(X, index, count):
    """:func:`amplitudes` with the alive coordinates given by :func:`alive_index`."""
    m = X.shape[0]
    out = np.empty(m)
    for j in range(m):
        acc = X[j, 0] * X[j, 0]
        for q in range(count[j]):
            z = X[j, index[j, q] + 1]
            acc += z * z
        out[j] = np.sqrt(acc)
    return out


@njit(cache=True)
def row_amplitude(X, alive, j):
    """Neuron ``j``'s amplitude ``sqrt(a² + Σ_alive z²)`` in the row's own units (one pass
    over the mask: cheaper than building an index for a single use)."""
    acc = X[j, 0] * X[j, 0]
    for i in range(X.shape[1] - 1):
        if alive[j, i]:
            acc += X[j, i + 1] * X[j, i + 1]
    return np.sqrt(acc)


@njit(cache=True)
def amplitudes(X, alive):
    """Per-neuron amplitude ``sqrt(a² + Σ_alive z²)`` in the row's own units."""
    out = np.empty(X.shape[0])
    for j in range(X.shape[0]):
        out[j] = row_amplitude(X, alive, j)
    return out


@njit(cache=True)
def covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp):
    """:func:`covered_residual` with the alive coordinates given by :func:`alive_index`."""
    target = y.copy()
    amps = amplitudes_on(X, index, count)
    for j in range(X.shape[0]):
        if large[j] and X[j, 0] != 0.0 and amps[j] > 0.0 and np.log(amps[j]) + log_scale[j] >= cover_log_amp:
            for q in range(count[j]):
                target[index[j, q]] = 0.0
    return target


@njit(cache=True)
def covered_residual(X, alive, large, log_scale, y, cover_log_amp):
    """The residual a converged state has: ``r*_i = 0`` where a large neuron of amplitude
    ``≥ exp(cover_log_amp)`` and ``a_j ≠ 0`` is alive, else ``y_i``
    (docs/math/finite-sigma.rst, "Plateaus in closed form")."""
    index, count = alive_index(alive)
    return covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp)


@njit(cache=True)
def stationarity_gap(X, alive, large, log_scale, y, s, cover_log_amp):
    """``max_i |r_i − r*_i|`` with ``r`` counting only large neurons of amplitude
    ``≥ exp(cover_log_amp)``: a state is converged when this is (almost) 0."""
    m, n1 = X.shape
    index, count = alive_index(alive)
    counted = large.copy()
    amps = amplitudes_on(X, index, count)
    for j in range(m):
        if counted[j] and (amps[j] == 0.0 or np.log(amps[j]) + log_scale[j] < cover_log_amp):
            counted[j] = False
    r = residual_on(X, index, count, counted, y, s)
    return max_gap(r, covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp))


@njit(cache=True, inline="always")
def max_gap(r, target):
    """``max_i |r_i − target_i|``."""
    gap = 0.0
    for i in range(r.shape[0]):
        gap = max(gap, abs(r[i] - target[i]))
    return gap


@njit(cache=True, inline="always")
def confirm_converged(X, index, count, large, log_scale, y, cover_log_amp, r, conv_tol, proj_tol, ymax):
    """Check a small gap against a fresh ``r*`` (the cover may have changed since: a death,
    or a neuron crossing δ, which the direct method does not flag). Returns the window code
    (0 converged, 5 projectable, -1 neither) and the fresh ``r*``."""
    target = covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp)
    gap = max_gap(r, target)
    if gap <= conv_tol * ymax:
        return 0, target
    if gap <= proj_tol * ymax:
        return 5, target
    return -1, target


@njit(cache=True, inline="always")
def needs_rescale(log_scale_j, log_amp, log_delta):
    """A small row of amplitude ``exp(log_amp)`` (own units) reached δ or left [e^-69, e^69]."""
    return log_scale_j + log_amp >= log_delta or log_amp > 69.0 or log_amp < -69.0


@njit(cache=True, inline="always")
def rescale_small(X, j, large, log_scale, log_amp, log_delta):
    """Make small row j large (raw values) if it reached δ, else bring it back to amplitude 1
    in its own units; True if it became large."""
    if log_scale[j] + log_amp >= log_delta:
        factor = np.exp(log_scale[j])
        log_scale[j] = 0.0
        large[j] = True
    else:
        factor = np.exp(-log_amp)
        log_scale[j] += log_amp
    for c in range(X.shape[1]):
        X[j, c] *= factor
    return large[j]


@njit(cache=True)
def descent_window(X, alive, large, log_scale, y, s, eta, log_delta, cover_log_amp, conv_tol, proj_tol,
                   max_steps, step0, check_after, stop_step, half_fit, losses):
    """Iterate exact gradient descent until an event; returns ``(steps taken, code)``.

    Codes: 0 converged (``max_i |r_i − r*_i| ≤ conv_tol · max|y|``, with ``r*`` from
    :func:`covered_residual`, checked from step ``check_after`` on), 1 a small neuron
    crossed ``exp(log_delta)`` and was made large, 2 ``max_steps`` taken, 3 ``stop_step``
    reached, 4 non-finite state, 5 close enough to the equilibrium for the tail to be
    projected (``gap ≤ proj_tol · max|y|``; :mod:`.projection`). ``losses[k]`` and ``half_fit`` (first step with
    ``|r_i| ≤ |y_i|/2``) are recorded for the iterates ``θ_{step0 + k}`` *before* each
    step, as training code does.

    One fused pass per neuron and step over its alive coordinates only (kept as a list of
    sample indices, compacted when a coordinate dies; a dead coordinate has a zero
    gradient, so skipping it changes no bit of the result): the output-weight gradient
    and the update of the alive coordinates (old values on the right-hand side, as in
    full-batch training), then the neuron's share of the next residual. Once the wrong-sign
    coordinates have died a neuron is alive on about a quarter of the samples, so this
    is about four times less work than a pass over every coordinate.
    """
    m, n1 = X.shape
    n = n1 - 1
    ymax = 0.0
    for i in range(n):
        ymax = max(ymax, abs(y[i]))
    inv_n = 1.0 / n
    index, count = alive_index(alive)
    r = residual_on(X, index, count, large, y, s)
    r_next = np.empty(n)
    rs = np.empty(n)
    target = covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp)
    for k in range(max_steps):
        step = step0 + k
        loss = 0.0
        gap = 0.0
        for i in range(n):
            loss += r[i] * r[i]
            gap = max(gap, abs(r[i] - target[i]))
            if half_fit[i] < 0 and y[i] != 0.0 and abs(r[i]) <= 0.5 * abs(y[i]):
                half_fit[i] = step
        losses[k] = 0.5 * loss * inv_n
        if not np.isfinite(loss):
            return k, 4
        if step >= stop_step:
            return k, 3
        if step >= check_after and gap <= max(conv_tol, proj_tol) * ymax:
            code, target = confirm_converged(X, index, count, large, log_scale, y, cover_log_amp, r, conv_tol,
                                             proj_tol, ymax)
            if code >= 0:
                return k, code
        for i in range(n):
            r_next[i] = y[i]
            rs[i] = r[i] * s[i]
        promoted = False
        for j in range(m):
            a = X[j, 0]
            acc, amp2, _ = step_listed(X, alive, j, index, count, rs, eta * a * inv_n)
            a += eta * acc * inv_n
            X[j, 0] = a
            amp2 += a * a
            if not large[j] and amp2 > 0.0:
                log_amp = 0.5 * np.log(amp2)
                if needs_rescale(log_scale[j], log_amp, log_delta):
                    promoted |= rescale_small(X, j, large, log_scale, log_amp, log_delta)
            if large[j] and a != 0.0:
                subtract_share(r_next, X, j, a, s, index, count)
        r, r_next = r_next, r
        if promoted:
            return k + 1, 1
        if k % 64 == 63:
            target = covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp)
    return max_steps, 2


@njit(cache=True)
def manage_small(X, alive, large, log_scale, log_delta):
    """Make small neurons of amplitude ``≥ exp(log_delta)`` large (raw values) and keep the
    others' rows at amplitude in [1e-30, 1e30]; returns how many became large."""
    m, n1 = X.shape
    promoted = 0
    for j in range(m):
        if large[j]:
            continue  # only small rows need their amplitude
        amp = row_amplitude(X, alive, j)
        if amp == 0.0:
            continue
        log_amp = np.log(amp)
        if log_scale[j] + log_amp >= log_delta:
            factor = np.exp(log_scale[j])
            log_scale[j] = 0.0
            large[j] = True
            promoted += 1
        elif log_amp > 69.0 or log_amp < -69.0:
            factor = 1.0 / amp
            log_scale[j] += log_amp
        else:
            continue
        for c in range(n1):
            X[j, c] *= factor
    return promoted
