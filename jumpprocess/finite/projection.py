"""The end of a convergence tail in closed form: large neurons projected onto their saddle.

docs/math/finite-sigma.rst, "Convergence tails".

Near the end of a window the large neurons are close to an equilibrium, and the residual
on the samples they cover, ``δr = r − r*`` (``r* = 0`` there), decays by the linearized
dynamics ``δr' = −K δr`` (flow) or ``δr ← (I − ηK) δr`` (descent), with the tangent kernel
of the large neurons restricted to the covered samples C,

    K = (1/n) (B Bᵀ + D),   B_{i j} = s_i z_ji,   D_ii = s_i² Σ_j a_j²    (j large, alive on i).

Integrated to the end of the tail, flow and descent alike:

* the large neurons move by ``Δa_j = (1/n) Σ_i s_i z_ji v_i`` and ``Δz_ji = (1/n) a_j s_i v_i``
  with ``v = K⁻¹ δr``, which puts them on the equilibrium up to ``O(|δr|²)``;
* a small neuron j (linear, growth rate ``λ_j`` under ``r*``) is forced through its
  covered coordinates, ``a' += (1/n) Σ_{i∈C} s_i z_ji δr_i``; its growing-mode coefficient
  ``c₊ = (a + <ŵ, z>)/2`` gains ``(1/2) ∫ f e^{−λ_j t} dt = (1/(2n)) Σ_i s_i z_ji v_i(λ_j)``
  with ``v(λ) = (K + λ)⁻¹ δr`` (descent gives the same sum: ``Σ_k (1 + ηλ)^{−k−1}
  (I − ηK)^k = (η(K + λ))⁻¹``). The other modes it excites decay relative to the growing
  one, so the neuron is left with the growing mode corrected.

``K + λ`` is diagonal plus rank ``m_large``: each solve is a Woodbury identity,
``O(|C| m_large² + m_large³)``. Without this step a window would integrate the whole tail,
whose slowest rate is about ``1/n`` for ±1 labels: thousands of steps per window.
"""

from __future__ import annotations

import numpy as np

__all__ = ["project_tail", "kernel_diagonal"]


def kernel_diagonal(X, alive, large, covered, s, n):
    """``D/n``: the diagonal part ``s_i² Σ_j a_j² / n`` of K on the covered samples (j large, a_j ≠ 0)."""
    rows = np.flatnonzero(large & (X[:, 0] != 0.0))
    on = alive[np.ix_(rows, np.flatnonzero(covered))]
    return (on * (X[rows, 0] ** 2)[:, None]).sum(axis=0) * s[covered] ** 2 / n


def _solver(B, D):
    """``v(λ) = (D + λ + B Bᵀ)⁻¹ δr`` by the Woodbury identity (B: ``|C| × k``, D: ``|C|``)."""
    k = B.shape[1]

    def solve(rhs, lam):
        inv = 1.0 / (D + lam)
        core = np.eye(k) + B.T @ (inv[:, None] * B)
        return inv * rhs - inv * (B @ np.linalg.solve(core, B.T @ (inv * rhs)))

    return solve


def project_tail(X, alive, large, covered, residual, y, s, n):
    """Project the large neurons onto their equilibrium and correct the small ones (in place).

    Parameters
    ----------
    X, alive, large
        The engine's state (rows of small neurons in their own units).
    covered : ndarray of bool (n,)
        Samples where a large neuron of amplitude ≥ δ is alive (``r* = 0`` there).
    residual : ndarray (n,)
        The current residual ``r`` (large neurons only).

    Returns
    -------
    float
        ``max |δr|`` before the projection.
    """
    C = np.flatnonzero(covered)
    if C.size == 0:
        return 0.0
    rows = np.flatnonzero(large & (X[:, 0] != 0.0))
    dr = residual[C]
    sC = s[C]
    on = alive[np.ix_(rows, C)]
    Z = np.where(on, X[np.ix_(rows, 1 + C)], 0.0)
    a = X[rows, 0]
    B = (Z * sC).T / np.sqrt(n)                                       # |C| × k
    D = kernel_diagonal(X, alive, large, covered, s, n)               # |C|
    if np.any(D <= 0):
        return float(np.max(np.abs(dr)))
    solve = _solver(B, D)
    # Small neurons first (they read the large neurons' state before it moves).
    target = np.where(covered, 0.0, y)
    for j in np.flatnonzero(~large):
        onj = alive[j, C]
        if not onj.any():
            continue
        w = np.where(alive[j] & ~covered, target * s, 0.0)
        W = float(w @ w)
        if W == 0.0:
            continue
        lam = np.sqrt(W) / n
        v = solve(dr, lam)
        zC = np.where(onj, X[j, 1 + C], 0.0)
        gain = 0.5 * float(np.sum(sC * zC * v)) / n
        X[j, 0] += gain
        X[j, 1:] += gain * w / np.sqrt(W)
    v0 = solve(dr, 0.0)
    X[rows, 0] += (Z * sC) @ v0 / n
    X[np.ix_(rows, 1 + C)] += np.where(on, a[:, None] * (sC * v0)[None, :] / n, 0.0)
    return float(np.max(np.abs(dr)))
