"""Numerical precision decided in one place (STYLE §8).

Every tolerance the engine uses lives here, so that tests import the same numbers
and a reader can see at once what "equal" means in this project.

Attributes
----------
DTYPE : numpy dtype
    All engine arithmetic is float64.
ORTHOGONALITY_ATOL : float
    Largest |cos(x_i, x_k)| accepted as orthogonal by ``OrthogonalProblem.from_inputs``.
TIE_RTOL : float
    Two candidate jump times ``τ_a <= τ_b`` are a tie when ``τ_b - τ_a <= TIE_RTOL * τ_a``.
    Exact ties (spec §6: ±1 labels, unit norms) differ only by rounding, about 1e-15
    relative; genuine differences this small could not be resolved at any representable
    σ (the finite-σ error is O(1/ln(1/σ)) ≥ 1/709 in float64), so reporting them as ties
    is the honest answer.
SADDLE_GRADIENT_RTOL : float
    Relative tolerance for "the gradient vanishes" at a closed-form saddle (§5).
"""

import numpy as np

__all__ = ["DTYPE", "ORTHOGONALITY_ATOL", "TIE_RTOL", "SADDLE_GRADIENT_RTOL", "FLOAT64_MIN_LOG"]

DTYPE = np.float64
ORTHOGONALITY_ATOL = 1e-8
TIE_RTOL = 1e-9
SADDLE_GRADIENT_RTOL = 1e-10
#: ln of the smallest positive normal float64 (about -708.4); σ² must stay above it.
FLOAT64_MIN_LOG = float(np.log(np.finfo(np.float64).tiny))
