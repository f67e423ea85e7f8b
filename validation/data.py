"""Inputs to train on: exactly orthogonal, or nearly orthogonal Gaussian.

docs/math/model.rst, docs/math/convergence.rst.

The limit depends on the data only through norms and labels (docs/math/reduction.rst), but a real network
needs inputs ``X``. Two kinds:

* :func:`orthogonal_inputs` — signed, scaled standard basis vectors (the engine's
  :func:`jumpprocess.finite.reference.coordinate_inputs`). They are orthogonal *exactly in
  floating point*. Inputs orthogonal only to rounding (a random rotation, ``|cos| ≈ 1e-16``)
  leak ``≈ 1e-16 |θ_j|`` into frozen coordinates ``U_ji ≈ −σ Ū_ji``; once σ is below about
  1e-16 the leak wins and the float64 network fits samples the σ → 0 limit never fits.
  (Measured here: a stalled limit interpolated at σ = 1e-20 and 1e-64 with a Haar-random
  frame, and stalled as predicted at every σ down to 1e-150 with coordinate inputs.)
* :func:`nearly_orthogonal_inputs` — Gaussian rows with ``d ≫ n``, ``|cos| ≈ 1/√d``; the
  limit is then an extrapolation, and the deviation is what a comparison measures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["orthogonal_inputs", "nearly_orthogonal_inputs", "max_cosine"]


def orthogonal_inputs(norms, d: int | None = None, seed=0) -> np.ndarray:
    """Exactly orthogonal inputs ``x_i = ε_i s_i e_{π(i)}`` in ``R^d`` (default ``d = n``), shape (n, d).

    Examples
    --------
    >>> X = orthogonal_inputs([1.0, 2.0], d=3, seed=0)
    >>> max_cosine(X), sorted(np.linalg.norm(X, axis=1).tolist())
    (0.0, [1.0, 2.0])
    """
    from jumpprocess.finite.reference import coordinate_inputs

    return coordinate_inputs(norms, d, rng=seed)


def nearly_orthogonal_inputs(norms, d: int, seed=0) -> np.ndarray:
    """Gaussian inputs ``x_i = s_i g_i / ||g_i||``, ``g_i ~ N(0, I_d)``, shape (n, d).

    Row norms are exactly ``s_i``; pairwise cosines are about ``N(0, 1/d)``, so the data is
    nearly orthogonal when ``d ≫ n`` (and never exactly).

    Raises
    ------
    ValueError
        ``d < n`` or non-positive norms.

    Examples
    --------
    >>> X = nearly_orthogonal_inputs(np.ones(4), 4000, seed=1)
    >>> X.shape, bool(0 < max_cosine(X) < 0.1)
    ((4, 4000), True)
    """
    s = np.asarray(norms, dtype=np.float64).reshape(-1)
    n = s.shape[0]
    if n == 0 or int(d) < n:
        raise ValueError(f"nearly orthogonal inputs need 1 <= n <= d (and d >> n); got n = {n}, d = {d}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("data norms must be finite and > 0")
    g = np.random.default_rng(seed).standard_normal((n, int(d)))
    return g * (s / np.linalg.norm(g, axis=1))[:, None]


def max_cosine(inputs) -> float:
    """``max_{i≠k} |cos(x_i, x_k)|`` (0.0 for a single row)."""
    X = np.asarray(inputs, dtype=np.float64)
    if X.shape[0] < 2:
        return 0.0
    unit = X / np.linalg.norm(X, axis=1)[:, None]
    cosines = np.abs(unit @ unit.T)
    np.fill_diagonal(cosines, 0.0)
    return float(cosines.max())
