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
def flow_segment(state, alive, w, n, duration, log_target):
    """Advance one small neuron under the gradient flow with constant ``w = r s``.

    ``state = (a, z_1..z_n)`` in the neuron's units (modified in place and left at unit
    amplitude); stops after ``duration`` or when ``log(amplitude)`` reaches ``log_target``
    (in the units at entry), whichever is first. Returns ``(elapsed, log_growth, reached,
    deaths)``.
    """
    z = state[1:]
    elapsed = 0.0
    log_growth = 0.0
    deaths = 0
    while True:
        remaining = duration - elapsed
        if remaining <= 0.0:
            return elapsed, log_growth, False, deaths
        W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
        a = state[0]
        if W == 0.0:
            return duration, log_growth, False, deaths
        lam = math.sqrt(W) / n
        psi0 = Q / W
        b = a / (n * lam)
        P = 0.5 * (psi0 + b)
        M = 0.5 * (psi0 - b)
        # Earliest death among alive moving coordinates.
        t_death = np.inf
        k_death = -1
        for i in range(z.shape[0]):
            if alive[i] and w[i] != 0.0:
                if z[i] <= 0.0:
                    if w[i] * a < 0.0 or (a == 0.0 and w[i] * Q < 0.0):
                        t_death = 0.0
                        k_death = i
                        break
                    continue
                t_i = _first_root_time(-z[i] / w[i], P, M, lam)
                if t_i < t_death:
                    t_death = t_i
                    k_death = i
        t_piece = min(t_death, remaining)
        reached = False
        target = log_target - log_growth
        if target < _LOG_HUGE:
            if t_piece == np.inf:
                # No death ahead: the amplitude eventually grows like e^{λt} (P ≠ 0).
                if P == 0.0:
                    return np.inf, log_growth, False, deaths
                hi = 1.0
                while _flow_log_amp(hi, lam, P, M, n, S0, Q, W) < target:
                    hi *= 2.0
                    if hi > 1e300:
                        return np.inf, log_growth, False, deaths
                t_piece = hi
            if _flow_log_amp(t_piece, lam, P, M, n, S0, Q, W) >= target:
                lo, hi = 0.0, t_piece
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    if mid <= lo or mid >= hi:
                        break
                    if _flow_log_amp(mid, lam, P, M, n, S0, Q, W) >= target:
                        hi = mid
                    else:
                        lo = mid
                t_piece = hi
                reached = True
                k_death = -1
            elif t_piece < t_death:
                k_death = -1
        elif t_piece == np.inf:
            return np.inf, log_growth, False, deaths
        if t_piece < t_death:
            k_death = -1
        # Move to the end of the piece, in units scaled by e^{-λt}, then renormalize.
        e = math.exp(-lam * t_piece)
        a_s = n * lam * (P - M * e * e)
        phi_s = P - (P + M) * e + M * e * e
        amp2 = a_s * a_s
        for i in range(z.shape[0]):
            if alive[i]:
                z[i] = z[i] * e + w[i] * phi_s
                amp2 += z[i] * z[i]
            else:
                z[i] = z[i] * e
        if k_death >= 0:
            amp2 -= z[k_death] * z[k_death]
            z[k_death] = 0.0
            alive[k_death] = False
            deaths += 1
        amp = math.sqrt(amp2)
        if amp == 0.0:
            amp = 1.0
        state[0] = a_s / amp
        for i in range(z.shape[0]):
            z[i] /= amp
        log_growth += lam * t_piece + math.log(amp)
        elapsed += t_piece
        if reached:
            return elapsed, log_growth, True, deaths


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
    """
    z = state[1:]
    done = 0
    log_growth = _normalize(state, alive)
    deaths = 0
    phi = 0.0
    W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
    while done < steps:
        a = state[0]
        if W == 0.0:
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
                lo = 0
                hi = 1
                while hi < remaining and _descent_log_amp(hi, lam, eta, n, a0, psi0, S0, Q, W)[0] < target:
                    hi *= 2
                if hi > remaining:
                    hi = remaining
                if _descent_log_amp(hi, lam, eta, n, a0, psi0, S0, Q, W)[0] >= target:
                    while hi - lo > 1:
                        mid = (lo + hi) // 2
                        if _descent_log_amp(mid, lam, eta, n, a0, psi0, S0, Q, W)[0] >= target:
                            hi = mid
                        else:
                            lo = mid
                    K = hi
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
        for i in range(z.shape[0]):
            if alive[i] and w[i] != 0.0 and z[i] + w[i] * phi <= 0.0:
                z[i] = z[i] + w[i] * phi
                alive[i] = False
                killed = True
                deaths += 1
        amp2 = a_new * a_new + S0 + 2.0 * phi * Q + phi * phi * W
        if killed or amp2 > 1e100 or amp2 < 1e-100:
            _rebase(state, alive, w, phi)
            phi = 0.0
            log_growth += _normalize(state, alive)
            W, Q, S0, n_pos, n_neg = _sums(z, alive, w)
            amp2 = 1.0
        if log_growth + 0.5 * math.log(max(amp2, 1e-300)) >= log_target:
            _rebase(state, alive, w, phi)
            log_growth += _normalize(state, alive)
            return done, log_growth, True, deaths
    _rebase(state, alive, w, phi)
    log_growth += _normalize(state, alive)
    return done, log_growth, False, deaths
