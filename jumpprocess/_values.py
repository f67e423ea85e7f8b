"""Numbers and arrays from whatever a user holds: Python, numpy or torch (0-d or not).

torch is never imported here: a tensor is recognized by its methods (``detach``, ``cpu``),
so these helpers cost nothing when torch is not installed.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_real", "as_integer", "as_float_array", "as_seed", "is_tensor"]


def is_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor (checked without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "cpu")


def as_real(value, name: str) -> float:
    """``value`` as a Python float: a real number, numpy scalar, or 0-d array/tensor.

    Booleans, complex numbers, strings and arrays with more than one entry are refused
    with a ``TypeError`` naming ``name``; finiteness is left to the caller.

    Examples
    --------
    >>> as_real(np.float32(0.5), "lr"), as_real(np.array(2.0), "lr")
    (0.5, 2.0)
    >>> as_real([1.0], "lr")
    Traceback (most recent call last):
    ...
    TypeError: lr must be a real number (int, float, numpy scalar or 0-d array/tensor), got [1.0]
    """
    if isinstance(value, (bool, np.bool_)):
        pass
    elif isinstance(value, numbers.Real):
        return float(value)
    elif getattr(value, "shape", None) is not None and tuple(value.shape) == () and hasattr(value, "__float__"):
        kind = str(getattr(value, "dtype", "")).lower()
        if not any(word in kind for word in ("bool", "complex")):
            if is_tensor(value):
                value = value.detach()
            return float(value)
    raise TypeError(
        f"{name} must be a real number (int, float, numpy scalar or 0-d array/tensor), got {value!r}"
    )


def as_float_array(value, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like or tensor (any dtype or device, grad or not).

    Raises ``ValueError`` for non-numeric data (strings, objects, complex).
    """
    if is_tensor(value):
        tensor = value.detach()
        if tensor.is_complex():
            raise ValueError(f"{name} must be real, got a complex tensor")
        import torch  # a tensor exists, so torch is installed

        return tensor.to(device="cpu", dtype=torch.float64).numpy().copy()
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {array.dtype}")
    return np.array(array, dtype=np.float64)


def as_seed(seed):
    """A seed for ``numpy.random.default_rng``: 0-d integer tensors and arrays become ``int``.

    Generators, seed sequences, ``None``, ints and sequences pass through unchanged.
    """
    if getattr(seed, "shape", None) is not None and tuple(seed.shape) == () and not isinstance(seed, np.random.Generator):
        value = as_real(seed, "seed")
        if value != int(value):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        return int(value)
    return seed


def as_integer(value) -> int | None:
    """``value`` as an int if it is an integer: Python or numpy ints, 0-d integer arrays or tensors.

    Returns None for anything else (booleans, floats such as 5.0, strings, arrays), so the
    caller raises its own message.

    Examples
    --------
    >>> as_integer(np.int64(5)), as_integer(np.array(5)), as_integer(5.0), as_integer(True)
    (5, 5, None, None)
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if getattr(value, "shape", None) is not None and tuple(value.shape) == ():
        kind = str(getattr(value, "dtype", "")).lower()
        if "int" in kind and "bool" not in kind:
            return int(value)
    return None
