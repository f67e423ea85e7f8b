"""Torch, devices, dtypes and the σ range: every precision decision of ``validation``.

The finite-σ network starts at ``θ(0) = σ θ̄`` (docs/math/model.rst). In the early phase the output
``f = Σ_j a_j relu(<w_j, x>)`` is of order σ², so σ² must be a *normal* number of the
training dtype: below the smallest normal the products lose their relative precision
(subnormals) and then flush to zero, and the run is silently wrong. The limits are

==========  ==========================  ===========================
dtype       smallest normal ``tiny``    smallest accepted σ = √tiny
==========  ==========================  ===========================
float64     2.2e-308                    1.5e-154
float32     1.2e-38                     1.1e-19
==========  ==========================  ===========================

so float64 reaches the σ = 1e-64 … 1e-128 the limit needs (docs/math/convergence.rst) and float32 does not.
:func:`check_sigmas` refuses anything outside ``[√tiny, 1)`` with an error naming the limit.

torch is an optional dependency: it is imported inside :func:`import_torch`, and a missing
install says which ``pip install`` fixes it.
"""

from __future__ import annotations


import numpy as np

from jumpprocess.limit.alignment import check_step_size as check_engine_step_size
from jumpprocess.precision import DTYPES, check_sigmas, resolve_dtype, smallest_sigma

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


def check_step_size(step_size) -> float:
    """A gradient-descent step ``η``: a finite number > 0 (training has no flow mode).

    The engine's check, :func:`jumpprocess.limit.alignment.check_step_size`, with ``None`` refused.
    """
    return check_engine_step_size(step_size, allow_flow=False)
