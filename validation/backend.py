"""Torch, devices, dtypes and the σ range: every precision decision of ``validation`` (STYLE §8).

The finite-σ network starts at ``θ(0) = σ θ̄`` (spec §1). In the early phase the output
``f = Σ_j a_j relu(<w_j, x>)`` is of order σ², so σ² must be a *normal* number of the
training dtype: below the smallest normal the products lose their relative precision
(subnormals) and then flush to zero, and the run is silently wrong. The limits are

==========  ==========================  ===========================
dtype       smallest normal ``tiny``    smallest accepted σ = √tiny
==========  ==========================  ===========================
float64     2.2e-308                    1.5e-154
float32     1.2e-38                     1.1e-19
==========  ==========================  ===========================

so float64 reaches the σ = 1e-64 … 1e-128 the limit needs (spec §9) and float32 does not.
:func:`check_sigmas` refuses anything outside ``[√tiny, 1)`` with an error naming the limit.

torch is an optional dependency: it is imported inside :func:`import_torch`, and a missing
install says which ``pip install`` fixes it (STYLE §13).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "INSTALL_HINT",
    "DTYPES",
    "import_torch",
    "resolve_device",
    "resolve_dtype",
    "smallest_sigma",
    "check_sigmas",
    "check_step_size",
]

#: What to run when torch (or matplotlib) is missing.
INSTALL_HINT = "pip install 'jumpprocess[validation]'"

#: Training dtypes offered: name -> numpy dtype (float64 is the default and the only one
#: that reaches the small σ the limit needs).
DTYPES = {"float64": np.float64, "float32": np.float32}


def import_torch():
    """Import torch, or raise ImportError saying how to install it."""
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised only without torch
        raise ImportError(
            f"validation trains real networks with PyTorch, which is not installed: {INSTALL_HINT}"
        ) from error
    return torch


def resolve_device(device: str = "auto") -> str:
    """The torch device to train on.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or a torch device string such as ``"cuda:1"``
        ``"auto"`` picks CUDA when available, else the CPU.

    Returns
    -------
    str
        ``"cpu"`` or a CUDA device string.

    Raises
    ------
    ValueError
        Unknown device, or CUDA requested where ``torch.cuda.is_available()`` is false.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    torch = import_torch()
    if not isinstance(device, str):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); use --device cpu or auto"
            )
        return name
    raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda'")


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
    values = np.atleast_1d(np.asarray(sigmas, dtype=np.float64)).reshape(-1)
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


def check_step_size(step_size) -> float:
    """A gradient-descent step ``η``: a finite number > 0 (training has no flow mode).

    Raises
    ------
    ValueError
        ``None``, a non-number, a non-finite value or ``η <= 0``.
    """
    if step_size is None or isinstance(step_size, bool) or not isinstance(step_size, numbers.Real):
        raise ValueError(f"step_size must be a positive number (the gradient-descent step eta), got {step_size!r}")
    eta = float(step_size)
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"step_size must be a finite number > 0 (the gradient-descent step eta), got {step_size!r}")
    return eta
