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
from numba import njit

from .vector_field import alive_index, amplitudes_on, flow_derivative, flow_derivative_on, residual, residual_on, residual_rate

__all__ = ["FlowSystem", "hermite", "first_crossing"]

# Dormand–Prince 5(4) tableau: stage weights A, 5th-order weights B, error weights E.
_A = np.zeros((6, 6))
_A[1, :1] = (1 / 5,)
_A[2, :2] = (3 / 40, 9 / 40)
_A[3, :3] = (44 / 45, -56 / 15, 32 / 9)
_A[4, :4] = (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729)
_A[5, :5] = (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656)
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])


@njit(cache=True)
def _combine(X, K, coefficients, count, index, alive_count, out):
    """``out = X + Σ_{q<count} coefficients[q] K[q]`` on the output weights and the alive
    coordinates (``index``, ``alive_count`` from :func:`.vector_field.alive_index`), summed
    in order of q (the same rounding as adding the stages one after another). Dead
    coordinates of ``out`` are not written: where they are needed (``X1``) the caller has
    copied ``X`` into ``out``; the stage state is read on alive coordinates only."""
    for j in range(X.shape[0]):
        for p in range(alive_count[j] + 1):
            c = 0 if p == 0 else index[j, p - 1] + 1
            acc = X[j, c]
            for q in range(count):
                if coefficients[q] != 0.0:
                    acc += coefficients[q] * K[q, j, c]
            out[j, c] = acc


@njit(cache=True)
def dopri_step(X, f0, h, alive, large, y, s, A, B, E, K, Xs, X1, f1):
    """One Dormand–Prince step into ``X1`` and ``f1``; returns ``(r1, error)``, the error
    relative per neuron.

    Every pass runs over the alive coordinates only (:func:`.vector_field.alive_index`);
    the stages are never read on dead coordinates, which keep their value in ``X1``
    (copied from ``X``; ``f1`` is 0 there). ``K`` (6, m, n+1) and the stage state ``Xs``
    are work space, read only where written; none of the four may be ``X`` or ``f0``.
    """
    m, n1 = X.shape
    index, alive_count = alive_index(alive)
    K[0] = f0  # stages 0-5; the seventh is f1
    for stage in range(1, 6):
        _combine(X, K, h * A[stage], stage, index, alive_count, Xs)
        r = residual_on(Xs, index, alive_count, large, y, s)
        flow_derivative_on(Xs, index, alive_count, r, s, K[stage])
    X1[:, :] = X
    _combine(X, K, h * B, 6, index, alive_count, X1)
    r1 = residual_on(X1, index, alive_count, large, y, s)
    f1[:, :] = 0.0
    flow_derivative_on(X1, index, alive_count, r1, s, f1)
    amp0 = amplitudes_on(X, index, alive_count)
    amp1 = amplitudes_on(X1, index, alive_count)
    worst = 0.0
    for j in range(m):
        scale = max(amp0[j], amp1[j])
        if scale == 0.0:
            continue
        row = 0.0
        for p in range(alive_count[j] + 1):
            c = 0 if p == 0 else index[j, p - 1] + 1
            e = 0.0
            for q in range(6):
                e += E[q] * K[q, j, c]
            e += E[6] * f1[j, c]
            row = max(row, abs(h * e))
        worst = max(worst, row / scale)
    return r1, worst


@njit(cache=True)
def hermite(theta, y0, y1, d0, d1):
    """Cubic Hermite interpolant at ``theta ∈ [0, 1]`` (``d0, d1`` are ``h·y'``)."""
    t2 = theta * theta
    t3 = t2 * theta
    return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * d0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * d1


@njit(cache=True)
def _turning_points(y0, y1, d0, d1):
    """Zeros in (0, 1) of the interpolant's derivative ``Aθ² + Bθ + C``, sorted (0 to 2)."""
    A = 6.0 * (y0 - y1) + 3.0 * (d0 + d1)
    B = -6.0 * (y0 - y1) - 4.0 * d0 - 2.0 * d1
    C = d0
    roots = np.empty(2)
    count = 0
    if A == 0.0:
        if B != 0.0:
            roots[0] = -C / B
            count = 1
    else:
        disc = B * B - 4.0 * A * C
        if disc >= 0.0:
            q = -0.5 * (B + (np.sqrt(disc) if B >= 0.0 else -np.sqrt(disc)))
            roots[0] = q / A
            count = 1
            if q != 0.0:
                roots[1] = C / q
                count = 2
    out = np.empty(2)
    found = 0
    for k in range(count):
        if 0.0 < roots[k] < 1.0:
            out[found] = roots[k]
            found += 1
    if found == 2 and out[1] < out[0]:
        out[0], out[1] = out[1], out[0]
    return out[:found]


@njit(cache=True)
def _bisect(y0, y1, d0, d1, level, iterations):
    """The first crossing: the interpolant is monotone between its turning points, so the
    first piece whose end is at or below ``level`` holds it, alone; bisect there (on [0, 1]
    when the interpolant is monotone, the usual case)."""
    out = np.empty(y0.shape[0])
    for k in range(y0.shape[0]):
        lo, hi = 0.0, 1.0
        for point in _turning_points(y0[k], y1[k], d0[k], d1[k]):
            if hermite(point, y0[k], y1[k], d0[k], d1[k]) <= level[k]:
                hi = point
                break
            lo = point
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            if hermite(mid, y0[k], y1[k], d0[k], d1[k]) > level[k]:
                lo = mid
            else:
                hi = mid
        out[k] = hi
    return out


def first_crossing(y0, y1, d0, d1, level, iterations=60):
    """Per entry, the first ``theta`` where the Hermite interpolant reaches ``level``.

    Entries have ``y0 > level >= y1``. A cubic may cross ``level`` three times in a step;
    the first crossing lies in the first monotone piece (between the zeros of the
    derivative) that ends at or below ``level``, and is found there by bisection
    (compiled, one entry at a time: it runs at every ReLU death and half-fit of a flow run).
    """
    y0 = np.asarray(y0, dtype=np.float64)
    args = [np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), y0.shape)).ravel()
            for v in (y0, y1, d0, d1, level)]
    return _bisect(*args, int(iterations)).reshape(y0.shape)


# States of at least this many entries (32 MiB) are stepped in work space kept between
# steps: fresh arrays that large are mapped anew by the allocator at every step, and their
# page faults cost more than the step (4.5× at m = 66, n = 10⁵). Smaller ones are recycled
# by the allocator and stay fresh.
_KEEP_BUFFERS = 1 << 22


class FlowSystem:
    """The flow's right-hand side bound to one problem (labels ``y``, norms ``s``)."""

    def __init__(self, y, s):
        self.y = y
        self.s = s
        self.n = y.shape[0]
        self._work = None     # (K, Xs) kept for large states
        self._outputs = []    # [X1, f1] pairs kept for large states, used in turn

    def derivative(self, X, alive, large):
        r = residual(X, alive, large, self.y, self.s)
        out = np.empty_like(X)
        flow_derivative(X, alive, r, self.s, out)
        return r, out

    def residual_rate(self, X, dX, alive, large):
        return residual_rate(X, dX, alive, large, self.s)

    def step(self, X, f0, h, alive, large):
        """One Dormand–Prince step: ``(X1, r1, f1, error)``, error relative per neuron.

        For a large state, ``X1`` and ``f1`` are one of two kept pairs of arrays, the one
        that is not ``X`` or ``f0``: they stay valid until the step after the next, which
        is all the integrator keeps (the state and its derivative).
        """
        K, Xs, X1, f1 = self._buffers(X, f0)
        r1, error = dopri_step(X, f0, h, alive, large, self.y, self.s, _A, _B, _E, K, Xs, X1, f1)
        return X1, r1, f1, error

    def _buffers(self, X, f0):
        m, n1 = X.shape
        if X.size < _KEEP_BUFFERS:
            return np.empty((6, m, n1)), np.empty_like(X), np.empty_like(X), np.empty_like(X)
        if self._work is None or self._work[1].shape != X.shape:
            self._work = (np.empty((6, m, n1)), np.empty_like(X))
            self._outputs = [[np.empty_like(X), np.empty_like(X)] for _ in range(2)]
        for pair in self._outputs:
            if pair[0] is not X and pair[1] is not f0 and pair[0] is not f0 and pair[1] is not X:
                return (*self._work, *pair)
        return (*self._work, np.empty_like(X), np.empty_like(X))
