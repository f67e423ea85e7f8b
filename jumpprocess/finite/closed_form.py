"""A small neuron under a constant residual, advanced in closed form (flow and descent).

docs/math/finite-sigma.rst, "Small neurons are linear" and "Plateaus in closed form".

While the residual ``r`` is constant, a small neuron obeys the linear equations of
:mod:`.vector_field` with ``w_i = r_i s_i``. Every alive coordinate moves along ``w`` by
one common scalar (docs/math/alignment.rst):

    z_i(t) = z_i + w_i Φ(t),      Φ' = a / n,      a' = (1/n)(Q + W Φ),

with ``Q = Σ_alive w_i z_i`` and ``W = Σ_alive w_i²``. So ``ψ = Φ + Q/W`` solves
``ψ'' = λ² ψ`` with ``λ = √W / n``:

    ψ(t) = P e^{λt} + M e^{−λt},   P = (ψ0 + b)/2,  M = (ψ0 − b)/2,  b = a(0) / (nλ),

and coordinate i dies (``z_i = 0``) when ``Φ = −z_i / w_i``, a root ``X = e^{λt} > 1`` of
``P X² − (θ + P + M) X + M = 0``. Between two deaths the state is explicit, so a plateau
of any length (``ln σ = −10⁶`` included) costs one evaluation per death. Values are kept in
the neuron's own units: after each piece the row is divided by its amplitude and the
logarithm of the factor is returned, so nothing overflows or underflows.

Gradient descent (step η) has the same structure with powers instead of exponentials:
``a_k ± nλψ_k`` is multiplied by ``μ± = 1 ± ηλ`` at each step. While some alive coordinate
can still die or ``a`` can still turn, the 2-d recurrence is iterated step by step (a
coordinate that steps to ``≤ 0`` freezes there); once the neuron is *settled* (``a > 0``,
``a`` non-decreasing and no alive coordinate moving down, or the mirror image) nothing can
die any more and the remaining steps are taken at once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["flow_segment", "descent_segment"]

_LOG_HUGE = 1e300


@njit(cache=True)
def _sums(z, alive, w):
    W = 0.0
    Q = 0.0
    S0 = 0.0
    n_pos = 0
    n_neg = 0
    for i in range(z.shape[0]):
        if alive[i]:
            S0 += z[i] * z[i]
            if w[i] != 0.0:
                W += w[i] * w[i]
                Q += w[i] * z[i]
                if w[i] > 0.0:
                    n_pos += 1
                else:
                    n_neg += 1
    return W, Q, S0, n_pos, n_neg


@njit(cache=True)
def _flow_log_amp(t, lam, P, M, n, S0, Q, W):
    """log of the amplitude ``sqrt(a² + Σ_alive z²)`` after time t of one piece."""
    e = math.exp(-lam * t)
    a_s = n * lam * (P - M * e * e)
    phi_s = P - (P + M) * e + M * e * e
    amp2 = a_s * a_s + S0 * e * e + 2.0 * phi_s * Q * e + phi_s * phi_s * W
    if amp2 <= 0.0:
        return -np.inf
    return lam * t + 0.5 * math.log(amp2)


@njit(cache=True)
def _first_root_time(theta, P, M, lam):
    """Smallest t > 0 with Φ(t) = θ (θ ≠ 0), or inf."""
    c = theta + P + M
    best = np.inf
    if P == 0.0:
        if c != 0.0:
            X = M / c
            if X > 1.0:
                best = math.log(X) / lam
        return best
    D = c * c - 4.0 * P * M
    if D < 0.0:
        return best
    sq = math.sqrt(D)
    q = 0.5 * (c + (sq if c >= 0.0 else -sq))
    if q != 0.0:
        for X in (q / P, M / q):
            if X > 1.0:
                t = math.log(X) / lam
                if t < best:
                    best = t
    return best


@njit(cache=True)
def _death_order(z, alive, w):
    """Alive moving coordinates (``w_i ≠ 0``) sorted by ``θ_i = −z_i / w_i``, where the
    common scalar kills them, and the first position with ``θ > 0``.

    Every alive coordinate moves by the same scalar times ``w_i``, so a coordinate dies
    when that scalar reaches its ``θ_i``. The scalar starts at 0 and moves continuously, so
    the dead ones always form a contiguous run of this order around the start: the next
    death is the nearest θ above or the nearest below, and a shift or rescaling of the
    state keeps the order. A run with k deaths costs O(n log n), not O(k n).
    """
    count = 0
    for i in range(z.shape[0]):
        if alive[i] and w[i] != 0.0:
            count += 1
    index = np.empty(count, dtype=np.int64)
    theta = np.empty(count)
    k = 0
    for i in range(z.shape[0]):
        if alive[i] and w[i] != 0.0:
            index[k] = i
            theta[k] = -z[i] / w[i]
            k += 1
    permutation = np.argsort(theta, kind="mergesort")
    above = 0
    while above < count and theta[permutation[above]] <= 0.0:
        above += 1
    return index[permutation], above


@njit(cache=True, inline="always")
def _without(i, z, w, W, Q, S, n_pos, n_neg):
    """The sums of :func:`_sums` with coordinate ``i`` (value ``z_i``) taken out."""
    if w[i] > 0.0:
        n_pos -= 1
    else:
        n_neg -= 1
    return W - w[i] * w[i], Q - w[i] * z[i], S - z[i] * z[i], n_pos, n_neg


@njit(cache=True, inline="always")
def _sums_stale(W, W_ref, S, S_ref, n_pos, n_neg):
    """Sums kept by subtraction lose relative accuracy as they shrink: recompute them when
    one has halved since it was computed, or when nothing moving is left (W exactly 0)."""
    return n_pos + n_neg == 0 or W < 0.5 * W_ref or S < 0.5 * S_ref


@njit(cache=True)
def flow_segment(state, alive, w, n, duration, log_target):
    """Advance one small neuron under the gradient flow with constant ``w = r s``.

    ``state = (a, z_1..z_n)`` in the neuron's units (modified in place and left at unit
    amplitude); stops after ``duration`` or when ``log(amplitude)`` reaches ``log_target``
    (in the units at entry), whichever is first. Returns ``(elapsed, log_growth, reached,
    deaths)``.

    Between deaths the state is explicit (module docstring). The alive coordinates are
    held as ``z_i = c ζ_i + w_i φ`` with ``ζ`` fixed and two scalars ``c > 0, φ``, and
    the sums ``W, Σ w ζ, Σ ζ²`` are updated at each death, so a piece costs O(1) and only
    the two candidates of :func:`_death_order` are tested. The state is written out and the
    sums recomputed every 64 pieces and whenever a sum has halved since it was last
    computed, which bounds the rounding they accumulate (a few ulps of their current size).
    """
    z = state[1:]
    order, hi = _death_order(z, alive, w)
    lo = hi - 1
    W, Qz, Sz, n_pos, n_neg = _sums(z, alive, w)
    W_ref, Sz_ref = W, Sz
    c = 1.0
    phi = 0.0
    dead_scale = 1.0  # coordinates dead at entry are only rescaled
    killed = np.empty(order.shape[0], dtype=np.int64)  # since the last write-out
    n_killed = 0
    deaths = 0
    elapsed = 0.0
    log_growth = 0.0
    pieces = 0
    reached = False
    while True:
        remaining = duration - elapsed
        if remaining <= 0.0:
            break
        a = state[0]
        if W == 0.0:
            elapsed = duration
            break
        Q = c * Qz + phi * W
        S0 = c * c * Sz + 2.0 * c * phi * Qz + phi * phi * W
        lam = math.sqrt(W) / n
        psi0 = Q / W
        b = a / (n * lam)
        P = 0.5 * (psi0 + b)
        M = 0.5 * (psi0 - b)
        # The earliest death: the nearest θ above the run of dead coordinates, or below.
        t_death = np.inf
        k_death = -1
        for side in range(2):
            pos = hi if side == 0 else lo
            if pos < 0 or pos >= order.shape[0]:
                continue
            i = order[pos]
            zi = c * z[i] + w[i] * phi
            if zi <= 0.0:
                if w[i] * a < 0.0 or (a == 0.0 and w[i] * Q < 0.0):
                    t_i = 0.0
                else:
                    continue
            else:
                t_i = _first_root_time(-zi / w[i], P, M, lam)
            if t_i < t_death or (t_i == t_death and i < k_death):
                t_death = t_i
                k_death = i
        t_piece = min(t_death, remaining)
        target = log_target - log_growth
        if target < _LOG_HUGE:
            if t_piece == np.inf:
                # No death ahead: the amplitude eventually grows like e^{λt} (P ≠ 0).
                if P == 0.0:
                    elapsed = np.inf
                    break
                top = 1.0
                while _flow_log_amp(top, lam, P, M, n, S0, Q, W) < target:
                    top *= 2.0
                    if top > 1e300:
                        break
                if top > 1e300:
                    elapsed = np.inf
                    break
                t_piece = top
            if _flow_log_amp(t_piece, lam, P, M, n, S0, Q, W) >= target:
                left, right = 0.0, t_piece
                for _ in range(200):
                    mid = 0.5 * (left + right)
                    if mid <= left or mid >= right:
                        break
                    if _flow_log_amp(mid, lam, P, M, n, S0, Q, W) >= target:
                        right = mid
                    else:
                        left = mid
                t_piece = right
                reached = True
        elif t_piece == np.inf:
            elapsed = np.inf
            break
        if t_piece < t_death or reached:
            k_death = -1
        # The end of the piece, in units scaled by e^{-λt}, then renormalized.
        e = math.exp(-lam * t_piece)
        a_s = n * lam * (P - M * e * e)
        c *= e
        phi = phi * e + (P - (P + M) * e + M * e * e)
        dead_scale *= e
        amp2 = a_s * a_s + c * c * Sz + 2.0 * c * phi * Qz + phi * phi * W
        if k_death >= 0:
            zk = c * z[k_death] + w[k_death] * phi
            amp2 -= zk * zk
            W, Qz, Sz, n_pos, n_neg = _without(k_death, z, w, W, Qz, Sz, n_pos, n_neg)
            alive[k_death] = False
            killed[n_killed] = k_death
            n_killed += 1
            deaths += 1
            if hi < order.shape[0] and order[hi] == k_death:
                hi += 1
            else:
                lo -= 1
        amp = math.sqrt(amp2) if amp2 > 0.0 else 1.0
        state[0] = a_s / amp
        c /= amp
        phi /= amp
        dead_scale /= amp
        log_growth += lam * t_piece + math.log(amp)
        elapsed += t_piece
        pieces += 1
        if reached:
            break
        # Every 64 pieces, and when a sum is stale, the state is written out afresh.
        if pieces % 64 == 0 or c < 1e-150 or _sums_stale(W, W_ref, Sz, Sz_ref, n_pos, n_neg):
            _write_out(z, alive, w, c, phi, dead_scale, killed, n_killed)
            c, phi, dead_scale, n_killed = 1.0, 0.0, 1.0, 0
            W, Qz, Sz, n_pos, n_neg = _sums(z, alive, w)
            W_ref, Sz_ref = W, Sz
    _write_out(z, alive, w, c, phi, dead_scale, killed, n_killed)
    return elapsed, log_growth, reached, deaths


@njit(cache=True)
def _write_out(z, alive, w, c, phi, dead_scale, killed, n_killed):
    """``z_i = c ζ_i + w_i φ`` on alive coordinates, 0 where a coordinate died in the
    flow, ``dead_scale · z_i`` on the others."""
    for i in range(z.shape[0]):
        if alive[i]:
            z[i] = c * z[i] + w[i] * phi
        else:
            z[i] *= dead_scale
    for q in range(n_killed):
        z[killed[q]] = 0.0


@njit(cache=True)
def _rebase(state, alive, w, phi):
    z = state[1:]
    for i in range(z.shape[0]):
        if alive[i]:
            z[i] += w[i] * phi


@njit(cache=True)
def _normalize(state, alive):
    amp2 = state[0] * state[0]
    for i in range(1, state.shape[0]):
        if alive[i - 1]:
            amp2 += state[i] * state[i]
    amp = math.sqrt(amp2)
    if amp == 0.0:
        return 0.0
    for i in range(state.shape[0]):
        state[i] /= amp
    return math.log(amp)


@njit(cache=True)
def _descent_log_amp(K, lam, eta, n, a0, psi0, S0, Q, W):
    """log amplitude after K settled steps (closed form, factored by μ₊^K)."""
    mu_p = 1.0 + eta * lam
    mu_m = 1.0 - eta * lam
    A_p = a0 + n * lam * psi0
    A_m = a0 - n * lam * psi0
    lp = K * math.log(mu_p)
    if mu_m == 0.0:
        rho = 0.0 if K > 0 else 1.0
    else:
        rho = math.exp(K * (math.log(abs(mu_m)) - math.log(mu_p)))
        if mu_m < 0.0 and K % 2 == 1:
            rho = -rho
    inv = math.exp(-lp)
    a_s = 0.5 * (A_p + A_m * rho)
    phi_s = 0.5 * (A_p - A_m * rho) / (n * lam) - psi0 * inv
    amp2 = a_s * a_s + S0 * inv * inv + 2.0 * phi_s * Q * inv + phi_s * phi_s * W
    return lp + 0.5 * math.log(amp2), a_s, phi_s, inv


@njit(cache=True)
def descent_segment(state, alive, w, n, eta, steps, log_target):
    """Advance one small neuron by gradient descent with constant ``w = r s``.

    Same contract as :func:`flow_segment` with an integer number of ``steps``; returns
    ``(steps_done, log_growth, reached, deaths)``. The neuron is left at unit amplitude.

    The alive coordinates are ``z_i + w_i φ`` with ``z`` fixed between rebases, so a step
    costs O(1) plus its deaths: only the next coordinates of :func:`_death_order` on either
    side can die, and a dead one leaves the sums ``W, Q, S0`` by subtraction. The state is
    rebased (written out, renormalized, sums recomputed) when its amplitude leaves
    [1e-50, 1e50], after every 64 steps with deaths, and when a sum has halved since it was
    last computed or nothing moving is left.
    """
    z = state[1:]
    done = 0
    log_growth = _normalize(state, alive)
    order, hi = _death_order(z, alive, w)
    lo = hi - 1
    deaths = 0
    phi = 0.0
    W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
    W_ref, S0_ref = W, S0
    death_steps = 0
    while done < steps:
        a = state[0]
        if W == 0.0:
            _rebase(state, alive, w, phi)
            log_growth += _normalize(state, alive)
            return steps, log_growth, False, deaths
        q = Q + W * phi
        settled = (a > 0.0 and q >= 0.0 and n_neg == 0) or (a < 0.0 and q <= 0.0 and n_pos == 0)
        if settled:
            _rebase(state, alive, w, phi)
            phi = 0.0
            W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
            lam = math.sqrt(W) / n
            psi0 = Q / W
            a0 = state[0]
            remaining = steps - done
            K = remaining
            reached = False
            target = log_target - log_growth
            if target < _LOG_HUGE:
                lo_k = 0
                hi_k = 1
                while hi_k < remaining and _descent_log_amp(hi_k, lam, eta, n, a0, psi0, S0, Q, W)[0] < target:
                    hi_k *= 2
                if hi_k > remaining:
                    hi_k = remaining
                if _descent_log_amp(hi_k, lam, eta, n, a0, psi0, S0, Q, W)[0] >= target:
                    while hi_k - lo_k > 1:
                        mid = (lo_k + hi_k) // 2
                        if _descent_log_amp(mid, lam, eta, n, a0, psi0, S0, Q, W)[0] >= target:
                            hi_k = mid
                        else:
                            lo_k = mid
                    K = hi_k
                    reached = True
            log_amp, a_s, phi_s, inv = _descent_log_amp(K, lam, eta, n, a0, psi0, S0, Q, W)
            state[0] = a_s
            for i in range(z.shape[0]):
                if alive[i]:
                    z[i] = z[i] * inv + w[i] * phi_s
                else:
                    z[i] = z[i] * inv
            log_growth += K * math.log(1.0 + eta * lam) + _normalize(state, alive)
            return done + K, log_growth, reached, deaths
        # One exact step of the 2-d recurrence (old values on the right-hand side).
        a_new = a + eta * q / n
        phi += eta * a / n
        state[0] = a_new
        done += 1
        killed = False
        for side in range(2):
            while True:
                pos = hi if side == 0 else lo
                if pos < 0 or pos >= order.shape[0]:
                    break
                i = order[pos]
                if not (z[i] + w[i] * phi <= 0.0):
                    break
                # Frozen at the value it stepped to; it leaves the sums.
                W, Q, S0, n_pos, n_neg = _without(i, z, w, W, Q, S0, n_pos, n_neg)
                z[i] = z[i] + w[i] * phi
                alive[i] = False
                killed = True
                deaths += 1
                if side == 0:
                    hi += 1
                else:
                    lo -= 1
        amp2 = a_new * a_new + S0 + 2.0 * phi * Q + phi * phi * W
        if killed:
            death_steps += 1
        # Rebased when the amplitude leaves [1e-50, 1e50], every 64 steps with deaths, and
        # when a sum is stale.
        if amp2 > 1e100 or amp2 < 1e-100 or (killed and (death_steps % 64 == 0
                                                       or _sums_stale(W, W_ref, S0, S0_ref, n_pos, n_neg))):
            _rebase(state, alive, w, phi)
            phi = 0.0
            log_growth += _normalize(state, alive)
            W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
            W_ref, S0_ref = W, S0
            amp2 = 1.0
        if log_growth + 0.5 * math.log(max(amp2, 1e-300)) >= log_target:
            _rebase(state, alive, w, phi)
            log_growth += _normalize(state, alive)
            return done, log_growth, True, deaths
    _rebase(state, alive, w, phi)
    log_growth += _normalize(state, alive)
    return done, log_growth, False, deaths
