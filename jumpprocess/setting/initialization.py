"""Initializations θ̄ = (ā, W̄) at unit scale (docs/math/model.rst, docs/math/alignment.rst).

σ is never applied here: the limit process depends on θ̄ only through the reduced
coordinates ``Ū_ji = <w̄_j, x_i>`` and ``ā_j`` (docs/math/reduction.rst), and whoever trains a finite
network multiplies by σ. The samplers draw ``w̄_j ~ N(0, I_d / d)``, so ``||w̄_j|| ≈ 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

import numbers

from .._values import as_float_array, as_integer, as_real, as_seed
from ..precision import DTYPE, ORTHOGONALITY_ATOL
from .problem import OrthogonalProblem, check_inputs

__all__ = [
    "Initialization",
    "InitKind",
    "sample_initialization",
    "balanced_init",
    "output_dominated_init",
    "gaussian_init",
]


@dataclass(frozen=True, eq=False)
class Initialization:
    """A unit-scale initialization in reduced coordinates (docs/math/reduction.rst).

    Parameters
    ----------
    preactivations : array_like, shape (m, n)
        ``Ū_ji = <w̄_j, x_i>``.
    output_weights : array_like, shape (m,)
        ``ā_j``.
    hidden_norms : array_like, shape (m,), optional
        ``||w̄_j||`` (includes the part orthogonal to the data); informational, used by
        :meth:`is_sign_stable`. The engine never needs it: early alignment depends only on
        ``ā`` and ``Ū`` (docs/math/reduction.rst, docs/math/alignment.rst).
    input_weights : array_like, shape (m, d), optional
        ``W̄`` itself, when it was drawn against known inputs.

    Raises
    ------
    ValueError
        Wrong shapes or non-finite values.

    Examples
    --------
    >>> init = Initialization([[0.5, -0.2]], [1.0])
    >>> init.m, init.n
    (1, 2)
    """

    preactivations: np.ndarray
    output_weights: np.ndarray
    hidden_norms: np.ndarray | None = None
    input_weights: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        output = as_float_array(self.output_weights, "output_weights").reshape(-1)
        pre = as_float_array(self.preactivations, "preactivations")
        m = output.shape[0]
        if pre.ndim == 1 and pre.size == 0:
            pre = pre.reshape(0, 0)
        if pre.ndim != 2 or pre.shape[0] != m:
            raise ValueError(
                f"preactivations must have shape (m, n) with m = len(output_weights) = {m}; got {pre.shape}"
            )
        for name, array in (("preactivations", pre), ("output_weights", output)):
            if not np.all(np.isfinite(array)):
                index = tuple(int(k) for k in np.argwhere(~np.isfinite(array))[0])
                raise ValueError(f"{name} must be finite; entry {index} is {array[index]}")
        hidden = self.hidden_norms
        if hidden is not None:
            hidden = as_float_array(hidden, "hidden_norms").reshape(-1)
            if hidden.shape != (m,) or not np.all(np.isfinite(hidden)) or np.any(hidden < 0):
                raise ValueError(f"hidden_norms must be {m} finite non-negative numbers")
        weights = self.input_weights
        if weights is not None:
            weights = as_float_array(weights, "input_weights")
            if weights.ndim != 2 or weights.shape[0] != m or not np.all(np.isfinite(weights)):
                raise ValueError(f"input_weights must be a finite (m={m}, d) array, got shape {weights.shape}")
        for array in (pre, output, hidden, weights):
            if array is not None:
                array.setflags(write=False)
        object.__setattr__(self, "preactivations", pre)
        object.__setattr__(self, "output_weights", output)
        object.__setattr__(self, "hidden_norms", hidden)
        object.__setattr__(self, "input_weights", weights)

    @property
    def m(self) -> int:
        """Number of neurons."""
        return int(self.output_weights.shape[0])

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.preactivations.shape[1])

    def is_sign_stable(self, norms=None) -> np.ndarray:
        """Per neuron, whether ``|ā_j| >= ||w̄_j||``: then ``a_j`` keeps its sign under gradient flow (docs/math/alignment.rst).

        ``||w̄_j||² = Σ_i Ū_ji² / s_i² + ||w̄_j⊥||²`` (docs/math/reduction.rst) involves the data norms ``s_i``
        and the part ``w̄_j⊥`` orthogonal to the data. It is taken from :attr:`hidden_norms`
        when recorded (the samplers record it, ``w̄_j⊥`` included), else from the rows of
        :attr:`input_weights`; with neither, from ``norms`` assuming ``w̄_j`` lies in the span
        of the data. When ``norms`` is given as well, the larger of the two values is used.

        Parameters
        ----------
        norms : array_like of shape (n,) or OrthogonalProblem, optional
            The data norms ``s_i`` (required when no hidden norms or weights are recorded).

        Returns
        -------
        ndarray of bool, shape (m,)

        Raises
        ------
        ValueError
            No way to know ``||w̄_j||`` (reduced coordinates alone and no ``norms``), or
            ``norms`` of the wrong shape or not finite and positive.

        Notes
        -----
        Sufficient, not necessary: the engine's exact test is the weaker
        ``ā_j² >= Σ_{i: Ū_ji > 0} Ū_ji² / s_i²`` (then ``a² − ||z_A||²`` is conserved and
        non-negative; :attr:`jumpprocess.limit.alignment.Alignment.sign_stable`).
        """
        squared = None
        if self.hidden_norms is not None:
            squared = self.hidden_norms**2
        elif self.input_weights is not None:
            squared = np.einsum("jd,jd->j", self.input_weights, self.input_weights)
        if norms is not None:
            s = np.asarray(getattr(norms, "norms", norms))
            if s.dtype == object or not np.issubdtype(s.dtype, np.number) or np.iscomplexobj(s):
                raise ValueError(f"norms must be {self.n} real numbers (the data norms s_i), got dtype {s.dtype}")
            s = s.astype(DTYPE)
            if s.shape != (self.n,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise ValueError(f"norms must be {self.n} finite positive numbers (the data norms s_i), got shape {s.shape}")
            z = self.preactivations / s
            in_span = np.einsum("ji,ji->j", z, z)
            squared = in_span if squared is None else np.maximum(squared, in_span)
        if squared is None:
            raise ValueError(
                "is_sign_stable needs the data norms s_i to compute ||w̄_j||² = Σ_i Ū_ji²/s_i² + ||w̄⊥||²: "
                "pass norms=problem.norms (this initialization records no hidden_norms or input_weights)"
            )
        return self.output_weights**2 >= squared

    def to_dict(self) -> dict:
        data = {"preactivations": self.preactivations.tolist(), "output_weights": self.output_weights.tolist()}
        if self.hidden_norms is not None:
            data["hidden_norms"] = self.hidden_norms.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Initialization":
        m = len(data["output_weights"])
        pre = np.asarray(data["preactivations"], dtype=DTYPE).reshape(m, -1) if m else np.zeros((0, 0))
        return cls(pre, data["output_weights"], data.get("hidden_norms"))


class InitKind(str, Enum):
    """The initialization laws of docs/math/alignment.rst."""

    BALANCED = "balanced"                  #: ā_j = ±||w̄_j|| (the paper; Boursier et al.)
    OUTPUT_DOMINATED = "output-dominated"  #: ``|ā_j| = ||w̄_j|| + Exp(1)`` (Dana et al.)
    GAUSSIAN = "gaussian"                  #: ā_j ~ N(0, 1) independent of w̄_j: a_j may flip sign


def _draw_hidden(problem: OrthogonalProblem, m: int, rng: np.random.Generator, inputs, d):
    """Draw w̄_j ~ N(0, I_d/d); return (Ū, ||w̄||, W̄ or None). ``inputs`` and ``d`` are checked."""
    n = problem.n
    X = problem.inputs if inputs is None else inputs
    if X is not None:
        dim = X.shape[1]
        W = rng.standard_normal((m, dim)) / np.sqrt(dim)
        return W @ X.T, np.linalg.norm(W, axis=1), W
    dim = n if d is None else d
    # Orthogonal x_i make <w̄, x_i / s_i> independent N(0, 1/d) (rotation invariance),
    # and the part of w̄ orthogonal to the data has squared norm χ²_{d-n} / d.
    U = rng.standard_normal((m, n)) * (problem.norms / np.sqrt(dim))
    orth = rng.chisquare(dim - n, size=m) / dim if dim > n else np.zeros(m)
    hidden = np.sqrt(np.einsum("ji,ji->j", U / problem.norms, U / problem.norms) + orth)
    return U, hidden, None


def _check_m(m) -> int:
    try:
        value = as_real(m, "m")
    except TypeError:
        value = float("nan")
    if isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 0:
        return int(m)
    if not (np.isfinite(value) and value >= 0 and value == int(value)) or isinstance(m, (str, bytes)):
        raise ValueError(f"m (the number of neurons) must be a non-negative integer, got {m!r}")
    return int(value)


def _check_arguments(problem, inputs, d, atol):
    """The checks of :func:`sample_initialization`, before any random number is drawn."""
    if not isinstance(problem, OrthogonalProblem):
        raise ValueError(
            f"problem must be a jumpprocess.OrthogonalProblem, got {type(problem).__name__}; build one with "
            "make_problem(n), OrthogonalProblem(labels, norms) or OrthogonalProblem.from_inputs(X, labels)"
        )
    n = problem.n
    if d is not None:
        dimension = as_integer(d)  # ints, numpy ints, 0-d integer arrays and tensors
        if dimension is None or dimension < n:
            raise ValueError(f"d (the input dimension) must be an integer >= n = {n} for orthogonal data, got {d!r}")
        d = dimension
    if inputs is not None:
        inputs, _ = check_inputs(inputs, n, atol=atol, norms=problem.norms)
        if d is not None and d != inputs.shape[1]:
            raise ValueError(f"d = {d} but the inputs have {inputs.shape[1]} columns; give one of them")
    return inputs, d


def _round_up(hidden: np.ndarray, n: int, dim: int) -> np.ndarray:
    """``||w̄_j||`` times ``1 + 16 (n + d + 4) ε``: at least the exact norm of the rounded ``Ū``.

    ``ā_j = ±||w̄_j||`` computed in floats lands on either side of the exact value, and the
    σ→0 limit is discontinuous exactly there (``C_j = 0``, docs/math/alignment.rst): a rounded-down
    ``|ā_j|`` can make a neuron with no good set turn and fit the other sign. Rounding
    up by more than the worst-case error keeps the sampler inside the sign-stable law
    the paper and docs/math/probability.rst assume (a relative change below 1e-9 for d, n <= 10^5).
    """
    return hidden * (1.0 + 16.0 * (n + dim + 4) * np.finfo(np.float64).eps)


def balanced_init(problem, m, rng, *, inputs=None, d=None, atol=ORTHOGONALITY_ATOL) -> Initialization:
    """The paper's balanced init: ``ā_j = ε_j ||w̄_j||`` with fair signs ``ε_j``.

    ``|ā_j|`` is rounded up by a relative ``16 (n + d + 4) ε`` so that ``|ā_j| >= ||w̄_j||``
    holds exactly despite rounding (see :func:`_round_up`).
    """
    inputs, d = _check_arguments(problem, inputs, d, atol)
    m = _check_m(m)
    U, hidden, W = _draw_hidden(problem, m, rng, inputs, d)
    signs = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    dim = W.shape[1] if W is not None else (problem.n if d is None else d)
    return Initialization(U, signs * _round_up(hidden, problem.n, dim), hidden, W)


def output_dominated_init(problem, m, rng, *, inputs=None, d=None, atol=ORTHOGONALITY_ATOL) -> Initialization:
    """Dana et al.'s init: ``|ā_j| = ||w̄_j|| + Exp(1)``, fair sign."""
    inputs, d = _check_arguments(problem, inputs, d, atol)
    m = _check_m(m)
    U, hidden, W = _draw_hidden(problem, m, rng, inputs, d)
    signs = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    return Initialization(U, signs * (hidden + rng.exponential(1.0, size=m)), hidden, W)


def gaussian_init(problem, m, rng, *, inputs=None, d=None, atol=ORTHOGONALITY_ATOL) -> Initialization:
    """Independent Gaussians: ``w̄_j ~ N(0, I_d/d)``, ``ā_j ~ N(0, 1)``; a_j may change sign."""
    inputs, d = _check_arguments(problem, inputs, d, atol)
    m = _check_m(m)
    U, hidden, W = _draw_hidden(problem, m, rng, inputs, d)
    return Initialization(U, rng.standard_normal(m), hidden, W)


_SAMPLERS = {
    InitKind.BALANCED: balanced_init,
    InitKind.OUTPUT_DOMINATED: output_dominated_init,
    InitKind.GAUSSIAN: gaussian_init,
}


def sample_initialization(
    problem: OrthogonalProblem,
    m: int,
    kind: InitKind | str = InitKind.BALANCED,
    *,
    seed: int | np.random.Generator = 0,
    inputs=None,
    d: int | None = None,
    atol: float = ORTHOGONALITY_ATOL,
) -> Initialization:
    """Draw a unit-scale initialization of ``m`` neurons for ``problem``.

    Parameters
    ----------
    problem : OrthogonalProblem
    m : int
        Width, ``m >= 0``.
    kind : InitKind or str
        ``"balanced"``, ``"output-dominated"`` or ``"gaussian"``.
    seed : int or numpy.random.Generator
        All randomness comes from ``numpy.random.default_rng(seed)``.
    inputs : array_like (n, d), optional
        If given (or stored on the problem), ``w̄_j ∈ R^d`` is drawn and
        ``Ū = W̄ Xᵀ``; otherwise ``Ū`` is drawn directly from its law for ambient
        dimension ``d`` (default ``n``). Given inputs must be finite, of the problem's
        norms and orthogonal to ``atol``.
    d : int, optional
        Ambient dimension, an integer ``>= n`` (equal to the inputs' width if both are given).
    atol : float
        Largest accepted ``|cos(x_i, x_k)|`` of the inputs; ``atol=1`` accepts any inputs,
        e.g. nearly orthogonal ones for finite-σ training (the limit then does not apply
        exactly).

    Raises
    ------
    ValueError
        ``problem`` not an :class:`OrthogonalProblem`; ``m`` not a non-negative integer;
        an unknown ``kind``; ``d`` not an integer ``>= n``; inputs of the wrong shape, not
        finite, not orthogonal or not of the problem's norms.

    Examples
    --------
    >>> from jumpprocess import make_problem
    >>> init = sample_initialization(make_problem(5), 3, "balanced", seed=1)
    >>> init.preactivations.shape, bool(init.is_sign_stable().all())
    ((3, 5), True)
    """
    try:
        sampler = _SAMPLERS[InitKind(kind)]
    except ValueError:
        raise ValueError(f"unknown init kind {kind!r}; expected one of {[k.value for k in InitKind]}") from None
    return sampler(problem, m, np.random.default_rng(as_seed(seed)), inputs=inputs, d=d, atol=atol)
