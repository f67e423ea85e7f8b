"""The problem: orthogonal inputs, their norms and labels (docs/math/model.rst, docs/math/reduction.rst).

Because the inputs are pairwise orthogonal, the limit process depends on the data only
through the norms ``s_i = ||x_i||`` and labels ``y_i`` (docs/math/reduction.rst). An
:class:`OrthogonalProblem` holds exactly that, and optionally the inputs ``X`` themselves
(needed only to express saddles as input-space weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .._values import as_float_array, as_integer, as_real, as_seed
from ..precision import DTYPE, ORTHOGONALITY_ATOL

__all__ = [
    "OrthogonalProblem",
    "LabelKind",
    "orthonormal_inputs",
    "random_orthogonal_inputs",
    "sign_labels",
    "gaussian_labels",
    "make_problem",
    "check_inputs",
    "row_norms",
]


#: Relative tolerance between given data norms and the row norms of given inputs.
NORMS_RTOL = 1e-9


def _check_atol(atol) -> float:
    try:
        value = as_real(atol, "atol")
    except TypeError:
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"atol must be a finite number >= 0 (the largest accepted |cos(x_i, x_k)|), got {atol!r}")
    return value


def row_norms(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(norms, unit)``: the Euclidean norm of every row and the row divided by it.

    Each row is first divided by a power of two near its largest entry (exact), so rows of
    norm 1e-300 or 1e300 are measured as precisely as rows of norm 1: their squares never
    underflow or overflow. A zero row has norm 0 and a zero unit row; a norm beyond the
    float64 range is ``inf``.
    """
    X = np.asarray(X, dtype=DTYPE)
    largest = np.max(np.abs(X), axis=1, initial=0.0)
    exponent = np.frexp(np.where(largest > 0, largest, 1.0))[1]
    scaled = np.ldexp(X, -exponent[:, None])  # |entries| < 1, exactly X / 2^e
    size = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        norms = np.ldexp(size, exponent)
        unit = np.where(size[:, None] > 0, scaled / np.where(size > 0, size, 1.0)[:, None], 0.0)
    return norms, unit


def check_inputs(X, n: int | None = None, *, atol: float = ORTHOGONALITY_ATOL, norms=None, name: str = "inputs"):
    """Validate inputs ``X`` (n × d) for the orthogonal setting; return ``(X, row norms)``.

    Checked, in this order: real numbers, a 2-d shape with ``n`` rows, finite entries, no
    zero row, representable row norms, pairwise orthogonality (``|cos| <= atol``) and, when
    ``norms`` is given, row norms equal to it (relative :data:`NORMS_RTOL`).

    Raises
    ------
    ValueError
        Naming the violated assumption (the entry, row or worst pair, and its value).
    """
    atol = _check_atol(atol)
    X = as_float_array(X, name)
    if X.ndim != 2 or (n is not None and X.shape[0] != n):
        expected = f"(n={n}, d)" if n is not None else "(n, d)"
        raise ValueError(f"{name} must be a 2-d array of shape {expected}, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("the problem has no samples (n = 0); at least one is required")
    if not np.all(np.isfinite(X)):
        row, col = map(int, np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"{name} must be finite; {name}[{row}, {col}] = {X[row, col]}")
    row_norm, unit = row_norms(X)
    if np.any(row_norm == 0):
        raise ValueError(f"input rows must be nonzero; row {int(np.flatnonzero(row_norm == 0)[0])} has norm 0")
    if not np.all(np.isfinite(row_norm)):
        bad = int(np.flatnonzero(~np.isfinite(row_norm))[0])
        raise ValueError(f"row {bad} has norm {float(np.max(np.abs(X[bad]))):.3g} x sqrt(d) or more, beyond float64 "
                         f"(1.8e308); rescale the inputs (docs/math/model.rst: scaling the data rescales time)")
    size = X.shape[0]
    if size > 1:
        cosines = np.abs(unit @ unit.T)
        np.fill_diagonal(cosines, 0.0)
        i, k = divmod(int(np.argmax(cosines)), size)
        if cosines[i, k] > atol:
            i, k = min(i, k), max(i, k)
            raise ValueError(
                f"inputs are not orthogonal: worst pair ({i}, {k}) has cosine "
                f"{float(unit[i] @ unit[k])!r} (tolerance {atol!r}){_bias_hint(X, atol)}"
            )
    if norms is not None:
        relative = np.abs(row_norm - norms) / norms
        if np.any(relative > NORMS_RTOL):
            bad = int(np.argmax(relative))
            raise ValueError(
                f"the row norms of the {name} must equal the norms: row {bad} has norm {float(row_norm[bad])!r}, "
                f"norms[{bad}] = {float(norms[bad])!r} (relative tolerance {NORMS_RTOL:g})"
            )
    return X, row_norm


def _as_float_vector(values, name: str) -> np.ndarray:
    array = as_float_array(values, name)  # arrays, lists, tensors (any dtype/device, grad or not)
    if name == "labels" and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # the (n, 1) column torch.nn.MSELoss needs
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of length n, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite; entry {bad} is {array[bad]}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class OrthogonalProblem:
    """Labels and data norms of an orthogonal regression problem (docs/math/model.rst).

    Parameters
    ----------
    labels : array_like, shape (n,) or (n, 1)
        Targets ``y_i``; finite. Zero labels are allowed: those samples are fitted from
        the start and never enter a good set.
    norms : array_like, shape (n,), optional
        Data norms ``s_i = ||x_i|| > 0``; default all ones (orthonormal inputs).
    inputs : array_like, shape (n, d), optional
        The inputs themselves, checked like :meth:`from_inputs` does (finite, nonzero,
        orthogonal rows; row norms equal to ``norms``, which default to them). Only used
        to map saddles to input-space weights and to train finite networks.

    Raises
    ------
    ValueError
        Empty problem (n = 0), non-finite or complex values, non-positive norms, shape
        mismatch; inputs that are not finite, not orthogonal or not of the given norms.

    Examples
    --------
    >>> p = OrthogonalProblem([1.0, -1.0, 0.5])
    >>> p.n, p.norms.tolist()
    (3, [1.0, 1.0, 1.0])
    """

    labels: np.ndarray
    norms: np.ndarray | None = None
    inputs: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        labels = _as_float_vector(self.labels, "labels")
        n = labels.shape[0]
        if n == 0:
            raise ValueError("the problem has no samples (n = 0); at least one is required")
        inputs, atol = self.inputs, ORTHOGONALITY_ATOL  # from_inputs and from_dict pass other tolerances
        if self.norms is None and inputs is not None:
            inputs, norms = check_inputs(inputs, n, atol=atol)
            norms.setflags(write=False)
        elif self.norms is None:
            norms = np.ones(n, dtype=DTYPE)
            norms.setflags(write=False)
        else:
            norms = _as_float_vector(self.norms, "norms")
            if norms.shape != (n,):
                raise ValueError(f"norms has shape {norms.shape} but labels has shape ({n},)")
            if np.any(norms <= 0):
                bad = int(np.flatnonzero(norms <= 0)[0])
                raise ValueError(f"data norms must be > 0 (zero-norm inputs carry no signal); norms[{bad}] = {norms[bad]}")
        if inputs is not None:
            if self.norms is not None:
                inputs, _ = check_inputs(inputs, n, atol=atol, norms=norms)
            inputs.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "norms", norms)
        object.__setattr__(self, "inputs", inputs)

    @classmethod
    def from_inputs(cls, X, labels, *, atol: float = ORTHOGONALITY_ATOL) -> "OrthogonalProblem":
        """Build a problem from inputs ``X`` (n × d), checking the assumptions of docs/math/model.rst.

        Parameters
        ----------
        X : array_like, shape (n, d)
            Pairwise-orthogonal, nonzero, finite rows.
        labels : array_like, shape (n,) or (n, 1)
            Arrays and tensors alike (any dtype or device, ``requires_grad`` or not).
        atol : float
            Largest accepted ``|cos(x_i, x_k)|`` for ``i != k``.

        Raises
        ------
        ValueError
            Naming the violated assumption: shapes, non-finite entries, a zero-norm row
            (its index), or the worst non-orthogonal pair and its cosine.

        Notes
        -----
        Cost ``O(n² d)`` for the Gram matrix.

        Examples
        --------
        >>> OrthogonalProblem.from_inputs([[2.0, 0.0], [0.0, 3.0]], [1, -1]).norms.tolist()
        [2.0, 3.0]
        >>> OrthogonalProblem.from_inputs([[1.0, 0.0], [1.0, 1.0]], [1, -1])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: inputs are not orthogonal: worst pair (0, 1) has cosine 0.7071067811865475 (tolerance 1e-08); ...
        """
        atol = _check_atol(atol)
        X = as_float_array(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-d array of shape (n, d), got shape {X.shape}")
        n = X.shape[0]
        if n == 0:
            raise ValueError("the problem has no samples (n = 0); at least one is required")
        labels_array = as_float_array(labels, "labels")
        if labels_array.shape == (n, 1):
            labels_array = labels_array[:, 0]
        if labels_array.shape != (n,):
            raise ValueError(f"labels has shape {labels_array.shape} but X has {n} rows; expected (n,) or (n, 1)")
        X, norms = check_inputs(X, n, atol=atol, name="X")
        return cls._with_inputs(labels_array, norms, X, atol)

    @classmethod
    def _with_inputs(cls, labels, norms, X, atol: float) -> "OrthogonalProblem":
        """A problem whose inputs were checked at orthogonality tolerance ``atol`` (kept for JSON)."""
        problem = cls(labels, norms)
        X, _ = check_inputs(X, problem.n, atol=atol, norms=problem.norms)
        X.setflags(write=False)
        object.__setattr__(problem, "inputs", X)
        object.__setattr__(problem, "_orthogonality_atol", float(atol))
        return problem

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.labels.shape[0])

    @property
    def signal(self) -> np.ndarray:
        """``v_i = y_i s_i``, the per-sample growth weight (docs/math/alignment.rst, docs/math/race.rst)."""
        return self.labels * self.norms

    def to_dict(self) -> dict:
        """Labels, norms and (when stored) the inputs, as JSON-ready lists (floats round-trip)."""
        data = {"labels": self.labels.tolist(), "norms": self.norms.tolist()}
        if self.inputs is not None:
            data["inputs"] = self.inputs.tolist()
            atol = getattr(self, "_orthogonality_atol", ORTHOGONALITY_ATOL)
            if atol != ORTHOGONALITY_ATOL:
                data["orthogonality_atol"] = atol
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "OrthogonalProblem":
        """Inverse of :meth:`to_dict` (the inputs are checked again)."""
        if data.get("inputs") is None:
            return cls(data["labels"], data["norms"])
        return cls._with_inputs(data["labels"], data["norms"], data["inputs"],
                                data.get("orthogonality_atol", ORTHOGONALITY_ATOL))


def _bias_hint(X: np.ndarray, atol: float) -> str:
    """What a network with a hidden bias sees: the rows ``(x_i, 1)`` (docs/math/model.rst)."""
    augmented = np.hstack([X, np.ones((X.shape[0], 1), dtype=DTYPE)])
    unit = row_norms(augmented)[1]
    cosines = np.abs(unit @ unit.T)
    np.fill_diagonal(cosines, 0.0)
    if cosines.max() <= atol:
        return ("; the augmented rows (x_i, 1) are orthogonal: if the network has a hidden bias, those are what the "
                "dynamics sees, so pass np.hstack([X, np.ones((n, 1))]) (or use jumpprocess.from_torch / "
                "Convention(hidden_bias=True))")
    return "; with a hidden bias the rows that must be orthogonal are (x_i, 1), and those are not orthogonal either"


class LabelKind(str, Enum):
    """Label distributions offered by :func:`make_problem`."""

    SIGN_BALANCED = "sign-balanced"  #: exactly ⌊n/2⌋ labels +1, the rest -1, in random order
    SIGN_RANDOM = "sign-random"      #: independent fair ±1
    GAUSSIAN = "gaussian"            #: independent standard normal


def orthonormal_inputs(n: int, d: int | None = None) -> np.ndarray:
    """The first ``n`` standard basis vectors of ``R^d`` (``d = n`` by default), shape (n, d)."""
    d = n if d is None else d
    _check_dims(n, d)
    return np.eye(n, d, dtype=DTYPE)


def random_orthogonal_inputs(n: int, d: int, rng: np.random.Generator, norms=None) -> np.ndarray:
    """``n`` random pairwise-orthogonal vectors in ``R^d`` (``d >= n``), shape (n, d).

    The directions are the rows of a Haar-random orthonormal frame (QR of a Gaussian
    matrix with the sign correction); rows are then scaled to ``norms`` (default 1).

    Warning: such rows are orthogonal only to ~1e-16. Training a real network on them at
    σ ≲ 1e-16 leaks rounding of size ``~1e-16·|θ|`` into coordinates that should stay frozen
    (``U_ji <= 0``) and can re-activate them, so finite-σ comparisons below that scale
    need exactly orthogonal inputs (e.g. signed, scaled, permuted basis vectors:
    :func:`orthonormal_inputs` scaled by the norms, or ``jumpprocess.finite.reference.coordinate_inputs``).
    """
    _check_dims(n, d)
    gaussian = rng.standard_normal((d, n))
    q, r = np.linalg.qr(gaussian)
    q = q * np.sign(np.diag(r))
    frame = q.T
    if norms is not None:
        norms = _as_float_vector(norms, "norms")
        if norms.shape != (n,) or np.any(norms <= 0):
            raise ValueError(f"norms must be {n} positive numbers")
        frame = frame * norms[:, None]
    return np.ascontiguousarray(frame)


def _check_dims(n: int, d: int) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if int(d) != d or d < n:
        raise ValueError(f"orthogonal inputs need d >= n; got n = {n}, d = {d}")


def sign_labels(n: int, rng: np.random.Generator, balanced: bool = True) -> np.ndarray:
    """±1 labels: exactly ``n//2`` positives in random order if ``balanced``, else fair coins."""
    if balanced:
        labels = np.where(np.arange(n) < n // 2, 1.0, -1.0)
        return rng.permutation(labels)
    return np.where(rng.random(n) < 0.5, 1.0, -1.0)


def gaussian_labels(n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Independent ``N(0, scale²)`` labels."""
    return scale * rng.standard_normal(n)


def make_problem(
    n: int,
    labels: LabelKind | str = LabelKind.SIGN_BALANCED,
    *,
    seed: int | np.random.Generator = 0,
    random_norms: bool = False,
) -> OrthogonalProblem:
    """A standard problem: ``n`` samples with the given label kind.

    Norms are 1, or ``Uniform(0.5, 2)`` when ``random_norms``. Inputs are not materialized
    (the limit needs only norms and labels; use :func:`random_orthogonal_inputs` for X).
    """
    count = as_integer(n)  # ints, numpy ints, 0-d integer arrays and tensors
    if count is None or count < 1:
        raise ValueError(f"n (the number of samples) must be a positive integer, got {n!r}")
    n = count
    try:
        kind = LabelKind(labels)
    except ValueError:
        raise ValueError(f"unknown label kind {labels!r}; expected one of {[k.value for k in LabelKind]}") from None
    rng = np.random.default_rng(as_seed(seed))
    if kind is LabelKind.GAUSSIAN:
        y = gaussian_labels(n, rng)
    else:
        y = sign_labels(n, rng, balanced=kind is LabelKind.SIGN_BALANCED)
    norms = rng.uniform(0.5, 2.0, size=n) if random_norms else None
    return OrthogonalProblem(y, norms)
