"""Numerical precision decided in one place.

Every tolerance the engine uses lives here, so that tests import the same numbers
and a reader can see at once what "equal" means in this project.

Attributes
----------
DTYPE : numpy dtype
    All engine arithmetic is float64.
ORTHOGONALITY_ATOL : float
    Largest ``|cos(x_i, x_k)|`` accepted as orthogonal by ``OrthogonalProblem.from_inputs``.
TIE_RTOL : float
    Two candidate jump times ``τ_a <= τ_b`` are a tie when ``τ_b - τ_a <= TIE_RTOL * τ_a``.
    Exact ties (docs/math/ties.rst: ±1 labels, unit norms) differ only by rounding, about 1e-15
    relative; genuine differences this small could not be resolved at any representable
    σ (the finite-σ error is O(1/ln(1/σ)) ≥ 1/709 in float64), so reporting them as ties
    is the honest answer.
SADDLE_GRADIENT_RTOL : float
    Relative tolerance for "the gradient vanishes" at a closed-form saddle (docs/math/saddles.rst).
"""

import math

import numpy as np

from ._values import as_float_array

__all__ = [
    "DTYPE", "DTYPES", "ORTHOGONALITY_ATOL", "TIE_RTOL", "SADDLE_GRADIENT_RTOL",
    "resolve_dtype", "smallest_sigma", "check_sigmas",
]

DTYPE = np.float64
ORTHOGONALITY_ATOL = 1e-8
TIE_RTOL = 1e-9
SADDLE_GRADIENT_RTOL = 1e-10

#: Dtypes finite-σ training may use (the engine itself is float64 only).
DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype="float64") -> str:
    """Normalize a dtype name (``"float64"`` or ``"float32"``, numpy/torch dtypes accepted)."""
    name = str(np.dtype(str(dtype).replace("torch.", ""))) if dtype is not None else "float64"
    if name not in DTYPES:
        raise ValueError(f"training dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return name


def smallest_sigma(dtype="float64") -> float:
    """Smallest σ accepted for ``dtype``: ``√tiny`` (σ² must be a normal number).

    Examples
    --------
    >>> f"{smallest_sigma('float64'):.2e}", f"{smallest_sigma('float32'):.2e}"
    ('1.49e-154', '1.08e-19')
    """
    return math.sqrt(float(np.finfo(DTYPES[resolve_dtype(dtype)]).tiny))


def check_sigmas(sigmas, dtype="float64") -> np.ndarray:
    """Validate the initialization scales σ for training in ``dtype``.

    Parameters
    ----------
    sigmas : float or sequence of float
        Each σ must satisfy ``√tiny(dtype) <= σ < 1``.
    dtype : str

    Returns
    -------
    ndarray of float64, shape (S,)

    Raises
    ------
    ValueError
        An empty list, a non-finite σ, σ <= 0, σ >= 1 (the limit is σ → 0; σ >= 1 is not a
        small initialization), or σ² below the smallest normal number of ``dtype``
        (the error names the limit ``√tiny`` and the dtype that would reach it).

    Examples
    --------
    >>> check_sigmas([1e-2, 1e-64]).tolist()
    [0.01, 1e-64]
    >>> check_sigmas([1e-20], "float32")
    Traceback (most recent call last):
    ...
    ValueError: sigma = 1e-20 is too small for float32: sigma**2 = 1e-40 underflows below the smallest normal float32 (1.175e-38); float32 needs sigma >= 1.08e-19 (use float64 for sigma down to 1.49e-154)
    """
    name = resolve_dtype(dtype)
    values = np.atleast_1d(as_float_array(sigmas, "sigmas")).reshape(-1)  # tensors too (grad or not)
    if values.size == 0:
        raise ValueError("the list of sigmas is empty; give at least one initialization scale 0 < sigma < 1")
    tiny = float(np.finfo(DTYPES[name]).tiny)
    limit = math.sqrt(tiny)
    for sigma in map(float, values):
        if not np.isfinite(sigma):
            raise ValueError(f"sigma must be finite, got {sigma}")
        if sigma <= 0 or sigma >= 1:
            raise ValueError(
                f"sigma = {sigma!r} is outside (0, 1): sigma is the initialization scale theta(0) = sigma * theta_bar "
                "and the limit is sigma -> 0"
            )
        if sigma < limit:
            log10_square = 2 * math.log10(sigma)
            message = (
                f"sigma = {sigma!r} is too small for {name}: sigma**2 = 1e{log10_square:.0f} underflows below the "
                f"smallest normal {name} ({float(np.finfo(DTYPES[name]).tiny):.4g}); {name} needs sigma >= {limit:.3g}"
            )
            if name != "float64":
                message += f" (use float64 for sigma down to {smallest_sigma('float64'):.3g})"
            raise ValueError(message)
    return values
