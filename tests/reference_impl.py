"""Slow, literal implementations of docs/math/alignment.rst, docs/math/race.rst, used only to check the fast engine.

They follow the wording of the docs pages, not the engine's reductions: the gradient-flow alignment
integrates piece by piece with the closed-form ``a(t), z_i(t)`` and the quadratic in
``X = e^{λt}`` for hitting times; gradient descent iterates the linear map on ``(a, z)``;
the race recomputes every rate from scratch at every step.
"""

import numpy as np

TIE_RTOL = 1e-9


def flow_alignment(a0, U0, labels, norms):
    """docs/math/alignment.rst, general initialization, gradient flow, one neuron. Returns (sign, good)."""
    n = labels.size
    v = labels * norms
    z = U0 / norms
    a = float(a0)
    active = (U0 > 0) & (v != 0)
    for _ in range(n + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        vA = v[idx]
        norm_v = np.linalg.norm(vA)
        lam = norm_v / n
        p = float(vA @ z[idx]) / norm_v
        # z_i(X) = z_i + c_i [a (X - 1/X)/2 + p ((X + 1/X)/2 - 1)], c_i = v_i/(n λ);
        # times 2X: c(a+p) X² + (2 z - 2 c p) X + c(p - a) = 0, root X > 1.
        best, best_X = None, np.inf
        for i in idx:
            c = v[i] / (n * lam)
            roots = np.roots([c * (a + p), 2 * z[i] - 2 * c * p, c * (p - a)])
            for X in roots:
                if abs(X.imag) < 1e-12 and X.real > 1 + 1e-15 and X.real < best_X:
                    best, best_X = i, X.real
        if best is None:
            break
        X = best_X
        sinh, cosh_m1 = (X - 1 / X) / 2, (X + 1 / X) / 2 - 1
        a_new = a * (X + 1 / X) / 2 + p * sinh
        z[idx] = z[idx] + (vA / (n * lam)) * (a * sinh + p * cosh_m1)
        a = a_new
        z[best] = 0.0
        active[best] = False
    idx = np.flatnonzero(active)
    p = float(v[idx] @ z[idx]) / np.linalg.norm(v[idx]) if idx.size else 0.0
    sign = int(np.sign(a + p))
    good = active & (np.sign(v) == sign) if sign else np.zeros(n, bool)
    return sign, good


def descent_alignment(a0, U0, labels, norms, eta, max_steps=2_000_000):
    """docs/math/alignment.rst, gradient descent: iterate x <- (I + η M_A) x, freezing coordinates <= 0."""
    n = labels.size
    v = labels * norms
    z = U0 / norms
    a = float(a0)
    active = (U0 > 0) & (v != 0)
    for _ in range(max_steps):
        q = float(v[active] @ z[active])
        if a > 0 and q >= 0 and not np.any(active & (v < 0)):
            break
        if a < 0 and q <= 0 and not np.any(active & (v > 0)):
            break
        if not active.any():
            break
        a, z_next = a + eta * q / n, z + eta * v * a / n
        z = np.where(active, z_next, z)
        active &= z > 0
        scale = max(abs(a), np.max(np.abs(z[active]), initial=0.0))
        if scale > 1e100:  # renormalize (the map is linear)
            a, z = a / scale, z / scale
    else:
        raise RuntimeError("did not settle")
    sign = int(np.sign(a))
    return sign, active & (np.sign(v) == sign)


def race(good, labels, norms, step_size=None):
    """docs/math/race.rst literally. Returns a list of (time, neuron, fitted-set) and the exponents."""
    m, n = good.shape
    v2 = (labels * norms) ** 2
    remaining = labels != 0
    e = -np.ones(m)
    active = np.zeros(m, bool)
    tau = 0.0
    jumps = []
    while True:
        lam = np.array([np.sqrt(v2[good[j] & remaining].sum()) / n for j in range(m)])
        if step_size is not None:
            lam = np.log1p(step_size * lam) / step_size
        cand = [j for j in range(m) if not active[j] and lam[j] > 0]
        if not cand:
            break
        times = {j: tau + (0 - e[j]) / lam[j] for j in cand}
        t = min(times.values())
        group = [j for j in cand if times[j] <= t * (1 + TIE_RTOL)]
        for j in cand:
            e[j] += lam[j] * (t - tau)
        tau = t
        for k in group:
            e[k] = 0.0
            fitted = good[k] & remaining
            if not fitted.any():
                continue
            remaining &= ~fitted
            active[k] = True
            jumps.append((t, k, np.flatnonzero(fitted)))
    return jumps, e
