"""Adaptive Dormand–Prince 5(4) for the reduced gradient flow, with ReLU deaths located.

docs/math/finite-sigma.rst, "The direct reference" and "The hybrid engine".

One step of the classical embedded pair (Dormand & Prince 1980; Hairer, Nørsett & Wanner,
*Solving ODEs I*, §II.5) on the state of :mod:`.vector_field`. The error of each neuron is
measured relative to that neuron's own amplitude, so a neuron at 1e-30 is integrated as
accurately as one at 1. A coordinate that crosses 0 inside a step dies there: the crossing
is located on the cubic Hermite interpolant of the step (error O(h⁴)), the step is redone
up to that time, and the coordinate is set to 0 and frozen. Sample half-fit times are
located the same way on the Hermite interpolant of the residual.
"""

from __future__ import annotations

import numpy as np

from .vector_field import amplitudes, flow_derivative, residual, residual_rate

__all__ = ["FlowSystem", "hermite", "first_crossing"]

_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def hermite(theta, y0, y1, d0, d1):
    """Cubic Hermite interpolant at ``theta ∈ [0, 1]`` (``d0, d1`` are ``h·y'``)."""
    t2 = theta * theta
    t3 = t2 * theta
    return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * d0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * d1


def first_crossing(y0, y1, d0, d1, level, iterations=60):
    """Per entry, the first ``theta`` where the Hermite interpolant reaches ``level``.

    Entries have ``y0 > level >= y1``; bisection on the sign change (vectorized).
    """
    lo = np.zeros_like(y0)
    hi = np.ones_like(y0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = hermite(mid, y0, y1, d0, d1) > level
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return hi


class FlowSystem:
    """The flow's right-hand side bound to one problem (labels ``y``, norms ``s``)."""

    def __init__(self, y, s, rtol):
        self.y = y
        self.s = s
        self.n = y.shape[0]
        self.rtol = rtol

    def derivative(self, X, alive, large):
        r = residual(X, alive, large, self.y, self.s)
        out = np.empty_like(X)
        flow_derivative(X, alive, r, self.s, out)
        return r, out

    def residual_rate(self, X, dX, alive, large):
        return residual_rate(X, dX, alive, large, self.s)

    def step(self, X, f0, h, alive, large):
        """One Dormand–Prince step: ``(X1, r1, f1, error)``, error relative per neuron."""
        k = [f0]
        for stage in range(1, 6):
            Xs = X.copy()
            for coefficient, kk in zip(_A[stage], k):
                if coefficient:
                    Xs += (h * coefficient) * kk
            k.append(self.derivative(Xs, alive, large)[1])
        X1 = X.copy()
        for coefficient, kk in zip(_B, k):
            if coefficient:
                X1 += (h * coefficient) * kk
        r1, f1 = self.derivative(X1, alive, large)
        k.append(f1)
        err = np.zeros_like(X)
        for coefficient, kk in zip(_E, k):
            if coefficient:
                err += (h * coefficient) * kk
        scale = np.maximum(amplitudes(X, alive), amplitudes(X1, alive))
        worst = np.max(np.abs(err), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(scale > 0, worst / np.where(scale > 0, scale, 1.0), 0.0)
        return X1, r1, f1, float(relative.max(initial=0.0))
