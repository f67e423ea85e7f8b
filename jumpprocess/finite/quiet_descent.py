"""Gradient descent with quiet samples lumped: the hybrid engine's descent window.

docs/math/finite-sigma.rst, "Quiet samples".

A sample is *quiet* over an interval of ``interval`` steps when its residual moves by at
most ``tol = quiet · max|y|`` over it. While ``r_i`` is held at its value ``r̄_i`` from the
interval's start, every alive coordinate of neuron ``j`` on a quiet sample moves by the
neuron's one scalar (the same structure as a plateau, docs/math/alignment.rst):

    z_ji(k) = z_ji(k0) + (η/n) b_i A_j(k),     b_i = r̄_i s_i,     A_j(k) = Σ_{k0 ≤ κ < k} a_j(κ),

so its share of the output-weight gradient is ``Q_j + (η/n) B_j A_j`` with
``Q_j = Σ b_i z_ji(k0)`` and ``B_j = Σ b_i²``, its share of the squared amplitude is a
quadratic in ``A_j``, and it dies when ``A_j`` passes ``−z_ji(k0) n / (η b_i)``: only the
nearest such threshold on each side of 0 is watched. A step then costs O(1) per neuron
plus its coordinates on the *active* samples, which are stepped exactly as in
:func:`.vector_field.descent_window`.

At the end of each interval the quiet coordinates are written out, the residual is
recomputed from the whole state, and every quiet sample is checked: if one moved by more
than ``tol``, the interval is undone (state, half-fit steps and loss records restored) and
redone with that sample active. So in every accepted interval the residual the lumped
coordinates used and the one they produced differ by at most ``tol`` at the interval's end
(in between, the one assumption: a residual that moves this little over 32 steps does so
smoothly, so its ends bound it), a quiet sample cannot have crossed ``|y_i|/2`` unseen
(samples within ``2 tol`` of it are never quiet), and a redone interval has strictly more
active samples (with none quiet it is the exact map), so the loop ends.

A sample is predicted quiet for the next interval when it moved by at most ``tol / 4``
over the last one; ``drift`` carries those measurements from call to call (``inf``: not
measured, active). An interval is lumped only when at least a quarter of the alive
coordinates are quiet; otherwise every coordinate is stepped, nothing can fail, and no
checkpoint is taken.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .vector_field import (alive_index, compact, confirm_converged, covered_residual_on, needs_rescale, rescale_small,
                           residual_on, step_listed, subtract_share)

__all__ = ["quiet_descent_window"]

_WORTH = 0.25  # lump an interval only if at least this fraction of the alive coordinates is quiet
_PREDICT = 4.0  # quiet next interval if the last one moved the residual by at most tol / _PREDICT


@njit(cache=True)
def _split(j, X, index, count, quiet, b, c, act_index, act_count, q_index, q_count, lumped):
    """Split neuron j's alive coordinates into active and quiet lists and start its lump.

    ``lumped[j]`` = (A, Q, B, S0, S1, lo, hi): the scalar, Σ b z, Σ b², Σ z², Σ z b over the
    quiet coordinates, and the nearest death thresholds of ``A`` below and above 0.
    """
    na = 0
    nq = 0
    Q = 0.0
    B = 0.0
    S0 = 0.0
    S1 = 0.0
    # nearest thresholds -z/(c b): the smallest z/b over b > 0 and over b < 0 (by
    # cross-multiplication, one division per neuron instead of one per coordinate)
    zp, bp = 1.0, 0.0
    zn, bn = 1.0, 0.0
    for q in range(count[j]):
        i = index[j, q]
        if quiet[i]:
            q_index[j, nq] = i
            nq += 1
            z = X[j, i + 1]
            bi = b[i]
            Q += bi * z
            B += bi * bi
            S0 += z * z
            S1 += z * bi
            if bi > 0.0:
                if bp == 0.0 or z * bp < zp * bi:
                    zp, bp = z, bi
            elif bi < 0.0:
                if bn == 0.0 or z * bn > zn * bi:
                    zn, bn = z, bi
        else:
            act_index[j, na] = i
            na += 1
    act_count[j] = na
    q_count[j] = nq
    lumped[j, 0] = 0.0
    lumped[j, 1] = Q
    lumped[j, 2] = B
    lumped[j, 3] = S0
    lumped[j, 4] = S1
    # (z / b) / c, not z / (c b): c b can underflow to 0 where b is tiny
    lumped[j, 5] = -(zp / bp) / c if bp > 0.0 else -np.inf
    lumped[j, 6] = -(zn / bn) / c if bn < 0.0 else np.inf


@njit(cache=True)
def _write_out(j, X, alive, index, count, b, c, q_index, q_count, lumped):
    """Write neuron j's quiet coordinates into ``X`` and kill those at ``≤ 0``; True if one died."""
    A = lumped[j, 0]
    died = False
    for q in range(q_count[j]):
        i = q_index[j, q]
        z = X[j, i + 1] + c * b[i] * A
        X[j, i + 1] = z
        if z <= 0.0:
            alive[j, i] = False
            died = True
    lumped[j, 0] = 0.0
    if died:
        compact(index, count, alive, j)
    return died


@njit(cache=True)
def quiet_descent_window(X, alive, large, log_scale, y, s, eta, log_delta, cover_log_amp, conv_tol, proj_tol,
                         max_steps, step0, check_after, stop_step, half_fit, losses, quiet_tol, interval, drift, counts):
    """:func:`.vector_field.descent_window` with quiet samples lumped (module docstring).

    Same arguments, codes and records, plus ``quiet_tol`` (the residual a quiet sample may
    move by over an interval, relative to ``max|y|``), ``interval`` (steps between checks)
    ``drift`` (per sample, how far its residual moved over the last accepted interval;
    updated in place, ``inf`` where unknown) and ``counts``, to which are added the
    intervals run, those redone, the coordinate updates made one by one and the neuron steps
    taken by a lumped scalar (``int64`` array of 4).
    """
    m, n1 = X.shape
    n = n1 - 1
    ymax = 0.0
    for i in range(n):
        ymax = max(ymax, abs(y[i]))
    inv_n = 1.0 / n
    c = eta * inv_n
    tol = quiet_tol * ymax
    index, count = alive_index(alive)
    r = residual_on(X, index, count, large, y, s)
    r_next = r.copy()
    rs = np.empty(n)
    b = np.zeros(n)
    quiet = np.zeros(n, dtype=np.bool_)
    active = np.empty(n, dtype=np.int64)
    act_index = np.empty((m, n), dtype=np.int64)
    act_count = np.zeros(m, dtype=np.int64)
    q_index = np.empty((m, n), dtype=np.int64)
    q_count = np.zeros(m, dtype=np.int64)
    lumped = np.zeros((m, 7))
    X0 = np.empty_like(X)
    alive0 = np.empty_like(alive)
    large0 = np.empty_like(large)
    scale0 = np.empty_like(log_scale)
    half0 = np.empty_like(half_fit)
    r0 = np.empty(n)
    k = 0
    k_target = -64
    target = y.copy()
    skip_check = -1
    while True:
        # -- an interval starts: classify, lump, checkpoint -----------------------------
        k0 = k
        counts[0] += 1
        r0[:] = r
        if k - k_target >= 64:  # r* is refreshed every 64 steps (and confirmed before use)
            target = covered_residual_on(X, index, count, large, log_scale, y, cover_log_amp)
            k_target = k
        n_active = 0
        loss_q = 0.0
        gap_q = 0.0
        for i in range(n):
            qi = drift[i] * _PREDICT <= tol
            if qi and y[i] != 0.0 and half_fit[i] < 0 and abs(abs(r[i]) - 0.5 * abs(y[i])) <= 2.0 * tol:
                qi = False
            quiet[i] = qi
            if qi:
                b[i] = r[i] * s[i]
                r_next[i] = r[i]
                loss_q += r[i] * r[i]
                gap_q = max(gap_q, abs(r[i] - target[i]))
            else:
                b[i] = 0.0
                active[n_active] = i
                n_active += 1
        for j in range(m):
            _split(j, X, index, count, quiet, b, c, act_index, act_count, q_index, q_count, lumped)
        lumping = n_active < n
        if lumping and np.sum(q_count) < _WORTH * np.sum(count):
            # too few quiet coordinates to pay for the interval's check: step them all
            lumping = False
            n_active = 0
            for i in range(n):
                quiet[i] = False
                b[i] = 0.0
                active[n_active] = i
                n_active += 1
            loss_q = 0.0
            gap_q = 0.0
            for j in range(m):
                _split(j, X, index, count, quiet, b, c, act_index, act_count, q_index, q_count, lumped)
        if lumping:  # only an interval with quiet samples can fail its check and be redone
            X0[:, :] = X
            alive0[:, :] = alive
            large0[:] = large
            scale0[:] = log_scale
            half0[:] = half_fit
        code = -1
        end = min(k0 + interval, max_steps)
        # -- steps -------------------------------------------------------------------------
        while k < end:
            step = step0 + k
            loss = loss_q
            gap = gap_q
            for p in range(n_active):
                i = active[p]
                loss += r[i] * r[i]
                gap = max(gap, abs(r[i] - target[i]))
                if half_fit[i] < 0 and y[i] != 0.0 and abs(r[i]) <= 0.5 * abs(y[i]):
                    half_fit[i] = step
            losses[k] = 0.5 * loss * inv_n
            if not np.isfinite(loss):
                code = 4
                break
            if step >= stop_step:
                code = 3
                break
            if step >= check_after and step != skip_check and gap <= max(conv_tol, proj_tol) * ymax:
                code = 6  # confirm against a fresh r* once the state is written out
                break
            for p in range(n_active):
                i = active[p]
                r_next[i] = y[i]
                rs[i] = r[i] * s[i]
            promoted = False
            for j in range(m):
                a = X[j, 0]
                counts[2] += act_count[j]
                acc, amp2, dies = step_listed(X, alive, j, act_index, act_count, rs, eta * a * inv_n)
                if dies:
                    compact(index, count, alive, j)
                if q_count[j] > 0:
                    counts[3] += 1
                    A = lumped[j, 0]
                    acc += lumped[j, 1] + c * lumped[j, 2] * A
                    A += a
                    lumped[j, 0] = A
                    if A <= lumped[j, 5] or A >= lumped[j, 6]:
                        # a quiet coordinate reached 0: write the lump out, kill, start again
                        _write_out(j, X, alive, index, count, b, c, q_index, q_count, lumped)
                        _split(j, X, index, count, quiet, b, c, act_index, act_count, q_index, q_count, lumped)
                    A = lumped[j, 0]
                    amp2 += lumped[j, 3] + 2.0 * c * A * lumped[j, 4] + c * c * A * A * lumped[j, 2]
                a += eta * acc * inv_n
                X[j, 0] = a
                amp2 += a * a
                if not large[j] and amp2 > 0.0:
                    log_amp = 0.5 * np.log(amp2)
                    if needs_rescale(log_scale[j], log_amp, log_delta):
                        _write_out(j, X, alive, index, count, b, c, q_index, q_count, lumped)
                        promoted |= rescale_small(X, j, large, log_scale, log_amp, log_delta)
                        _split(j, X, index, count, quiet, b, c, act_index, act_count, q_index, q_count, lumped)
                if large[j] and a != 0.0:
                    subtract_share(r_next, X, j, a, s, act_index, act_count)
            r, r_next = r_next, r
            k += 1
            if promoted:
                code = 1
                break
        # -- the interval ends: write out, recompute, check every quiet sample -------------
        for j in range(m):
            if q_count[j] > 0:
                _write_out(j, X, alive, index, count, b, c, q_index, q_count, lumped)
        fresh = residual_on(X, index, count, large, y, s)
        failed = False
        for i in range(n):
            if quiet[i] and not abs(fresh[i] - r0[i]) <= tol:
                failed = True
                drift[i] = np.inf
        if failed:
            counts[1] += 1
            X[:, :] = X0
            alive[:, :] = alive0
            large[:] = large0
            log_scale[:] = scale0
            half_fit[:] = half0
            index, count = alive_index(alive)
            r = r0.copy()
            r_next = r0.copy()
            k = k0
            continue
        for i in range(n):
            drift[i] = abs(fresh[i] - r0[i])
        r = fresh
        r_next = fresh.copy()
        if code == -1:
            if k >= max_steps:
                return max_steps, 2
            continue
        if code == 6:
            code, target = confirm_converged(X, index, count, large, log_scale, y, cover_log_amp, r, conv_tol,
                                             proj_tol, ymax)
            if code >= 0:
                return k, code
            skip_check = step0 + k
            continue
        return k, code
