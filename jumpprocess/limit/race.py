"""The exponent race: the paper's Algorithm 1, reconstructed (docs/math/race.rst, docs/math/ties.rst).

State: the set ``R`` of samples not yet fitted and, per neuron, an exponent
``e_j ∈ [−1, 0]`` with ``|θ_j| ≈ σ^{−e_j}`` (initially −1). Neuron j grows at rate

    λ_j = ||(y_i s_i)_{i ∈ G_j ∩ R}||_2 / n      (gradient descent: ln(1 + η λ_j) / η)

and the next neuron to reach ``e = 0`` activates and fits ``G_k ∩ R`` exactly.

Memory layout. The race needs, per neuron, ``S_j = Σ_{i∈G_j∩R} (y_i s_i)²`` and the count
``c_j = |G_j ∩ R|`` (integer, exact: a neuron whose remaining set is empty has rate
exactly 0, never a rounding residue). The m × n pattern is packed along the neuron axis
into ``⌈m/8⌉ × n`` bytes (bit ``j mod 8`` of byte row ``j // 8``), and only the columns of
``R`` are kept, compacted after each jump. When neuron k fits ``F``, every neuron's
``S_j`` and ``c_j`` drop by what ``F`` contributed: for each byte row, one ``bincount`` of
that row's bytes over ``F`` (256 bins, weighted by ``v_i²``) followed by a 256 × 8 table
product. Each sample is fitted once, so the whole race reads the pattern about once:
``O(m n / 8 + J · |R|)`` byte operations for ``J`` jumps, instead of ``O(J · m · n)``.

Ties (docs/math/ties.rst). Candidate jump times within :data:`~jumpprocess.precision.TIE_RTOL`
(relative) are one tie group. All its neurons activate at that τ, in increasing neuron
index, each fitting what remains of its good set (a member left with nothing fits
nothing and stays inactive). If two members' remaining sets overlap without being
identical the σ→0 limit is not determined by the race, and the trajectory is flagged
``ambiguous``; the lowest index first rule is then a documented convention, not a
prediction. If they are identical, the fitted set and the function are determined and
only the fitting neuron is a convention (``identical``; ``Trajectory.identical_ties``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..precision import TIE_RTOL
from .compiled import race_events, use_compiled

__all__ = ["JumpEvent", "RaceResult", "run_race", "rates_from_sums", "pack_neuron_bits", "count_rows"]

# _BIT_TABLE[b, k] = bit k of byte value b: turns byte-value histograms into per-neuron sums.
_BIT_TABLE = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(np.float64)


@dataclass(frozen=True, eq=False)
class JumpEvent:
    """One activation (jumps are records).

    Attributes
    ----------
    time : float
        Rescaled jump time τ = t / ln(1/σ).
    neuron : int
        The neuron that reaches exponent 0 and jumps to its saddle.
    fitted : ndarray of int64 (read-only)
        Samples it fits, ``G_k ∩ R``, in increasing order.
    tied_with : tuple of int
        Other neurons whose candidate time equals this one within ``TIE_RTOL``.
    overlapping : bool
        Whether the tie group's remaining sets overlapped (the limit is then ambiguous,
        unless they were identical).
    identical : bool
        Whether they were moreover all identical: then the fitted set, the function, the
        losses and every later time are determined, and only which of the tied neurons
        carries the fit is not (for continuous labels this is the only kind of tie
        with positive probability: neurons sharing a good set).
    """

    time: float
    neuron: int
    fitted: np.ndarray
    tied_with: tuple = ()
    overlapping: bool = False
    identical: bool = False

    def __post_init__(self):
        fitted = np.array(self.fitted, dtype=np.int64).reshape(-1)
        fitted.setflags(write=False)
        object.__setattr__(self, "fitted", fitted)
        object.__setattr__(self, "tied_with", tuple(int(j) for j in self.tied_with))

    def __eq__(self, other):
        if not isinstance(other, JumpEvent):
            return NotImplemented
        return (self.time == other.time and self.neuron == other.neuron and self.tied_with == other.tied_with
                and self.overlapping == other.overlapping and self.identical == other.identical
                and np.array_equal(self.fitted, other.fitted))

    __hash__ = None

    @classmethod
    def _from_race(cls, time, neuron, fitted, tied_with, overlapping, identical):
        """No-copy constructor for the race (``fitted`` is a fresh int64 array it owns)."""
        event = object.__new__(cls)
        fitted.setflags(write=False)
        for name, value in (("time", time), ("neuron", neuron), ("fitted", fitted), ("tied_with", tied_with),
                            ("overlapping", overlapping), ("identical", identical)):
            object.__setattr__(event, name, value)
        return event


@dataclass(frozen=True, eq=False)
class RaceResult:
    """Raw output of :func:`run_race`; :class:`~jumpprocess.Trajectory` wraps it."""

    events: tuple
    exponents: np.ndarray  # (J, m) exponents just after each jump
    rates: np.ndarray      # (J, m) rates in force during the plateau that ends at each jump


def rates_from_sums(sums: np.ndarray, n: int, step_size: float | None) -> np.ndarray:
    """``λ = sqrt(S)/n`` (gradient flow) or ``ln(1 + η λ)/η`` (gradient descent), docs/math/race.rst."""
    lam = np.sqrt(sums) / n
    if step_size is None:
        return lam
    return np.log1p(step_size * lam) / step_size


_RECOMPUTE_BELOW = 1e-3  # below this fraction of its anchor a sum is recomputed (error ≲ ε/1e-3 ≈ 2e-13)
_COMPACT_BELOW = 0.25  # compact R once it is below this fraction of the stored columns
_UNPACK_BELOW = 256     # fewer columns: unpack bits; more: histograms of byte values
_ONE_HISTOGRAM_BELOW = 8192  # fewer columns: one histogram over all byte rows (offset bins)


_LANE_MASKS = np.uint64(0x0101010101010101) << np.arange(8, dtype=np.uint64)  # bit k of every byte


def _row_counts(packed: np.ndarray, m: int) -> np.ndarray:
    """Per-neuron counts over the columns of ``packed``: vertical popcounts in uint64 lanes.

    Eight columns' bytes form one uint64 word; ``word & (0x0101…01 << k)`` keeps bit k of
    each, and its popcount counts neuron ``8 r + k`` in those eight columns.
    """
    rows, width = packed.shape
    padded = np.zeros((rows, -(-width // 8) * 8), dtype=np.uint8)
    padded[:, :width] = packed
    words = padded.view(np.uint64)
    counts = np.bitwise_count(words[:, None, :] & _LANE_MASKS[None, :, None]).sum(axis=2, dtype=np.int64)
    return counts.ravel()[:m].astype(np.float64)


def _byte_row_sums(packed: np.ndarray, weights: np.ndarray | None, m: int) -> np.ndarray:
    """Per-neuron sums of ``weights`` (or counts) over the columns of ``packed`` whose bit is set.

    Three equivalent evaluations, chosen by size (call overhead dominates small blocks):
    unpacking the bits; one ``bincount`` with byte row r mapped to bins ``256 r + value``;
    one ``bincount`` per byte row. Each histogram becomes per-neuron sums through the
    256 × 8 bit table.
    """
    rows, width = packed.shape
    if width < _UNPACK_BELOW:
        bits = np.unpackbits(packed, axis=0, count=m, bitorder="little")
        return bits.sum(axis=1, dtype=np.float64) if weights is None else bits @ weights
    if width < _ONE_HISTOGRAM_BELOW:
        offset = packed + (np.arange(rows, dtype=np.intp) * 256)[:, None]
        tiled = None if weights is None else np.broadcast_to(weights, (rows, width)).ravel()
        histogram = np.bincount(offset.ravel(), weights=tiled, minlength=rows * 256).reshape(rows, 256)
        return (histogram @ _BIT_TABLE).ravel()[:m]
    out = np.empty(rows * 8)
    for row in range(rows):
        histogram = np.bincount(packed[row], weights=weights, minlength=256)
        out[row * 8 : row * 8 + 8] = histogram @ _BIT_TABLE
    return out[:m]


def _bit(packed: np.ndarray, neuron) -> np.ndarray:
    """Boolean row ``G_neuron`` over the current columns of the packed pattern."""
    neuron = int(neuron)
    return (packed[neuron >> 3] & np.uint8(1 << (neuron & 7))) != 0


def pack_neuron_bits(good_sets: np.ndarray) -> np.ndarray:
    """Pack an (m, n) bool pattern along neurons: byte ``[j // 8, i]`` holds bit ``j mod 8``.

    Equal to ``np.packbits(good_sets, axis=0, bitorder="little")``, which transposes
    internally and costs ~40 × more: here eight rows are combined with shifts in uint64
    lanes (each byte is 0 or 1, so lanes never carry into each other).
    """
    m, n = good_sets.shape
    rows = -(-m // 8)
    padded = np.zeros((rows * 8, n), dtype=bool) if m % 8 else None
    if padded is not None:
        padded[:m] = good_sets
        good_sets = padded
    good_sets = np.ascontiguousarray(good_sets)
    head = n - n % 8
    out = np.empty((rows, n), dtype=np.uint8)
    if head:
        lanes = good_sets[:, :head].view(np.uint64).reshape(rows, 8, head // 8)
        packed = lanes[:, 0].copy()
        scratch = np.empty_like(packed)
        for bit in range(1, 8):
            np.left_shift(lanes[:, bit], np.uint64(bit), out=scratch)
            np.bitwise_or(packed, scratch, out=packed)
        out[:, :head] = packed.view(np.uint8).reshape(rows, head)
    if head < n:
        out[:, head:] = np.packbits(good_sets[:, head:], axis=0, bitorder="little")
    return out


def count_rows(good_sets: np.ndarray) -> np.ndarray:
    """``good_sets.sum(axis=1)`` as float64, summing bytes in uint64 lanes (~20 × faster)."""
    m, n = good_sets.shape
    head = n - n % 8
    counts = good_sets[:, head:].sum(axis=1).astype(np.float64)
    if head and m:
        lanes = np.ascontiguousarray(good_sets[:, :head]).view(np.uint64)
        # each byte lane holds 0/1; blocks of 255 words cannot overflow a byte
        partial = np.add.reduceat(lanes, np.arange(0, lanes.shape[1], 255), axis=1)
        counts += partial.view(np.uint8).reshape(m, -1).sum(axis=1, dtype=np.int64)
    return counts


def run_race(good_sets: np.ndarray, signal_sq: np.ndarray, n: int, step_size: float | None = None, *,
             compiled: bool | None = None) -> RaceResult:
    """Run the exponent race (docs/math/race.rst) on a good-set pattern.

    Parameters
    ----------
    good_sets : ndarray of bool, shape (m, n)
        ``G_j``; must already exclude samples with ``y_i = 0``.
    signal_sq : ndarray, shape (n,)
        ``(y_i s_i)²``.
    n : int
        Number of samples (the ``1/n`` of the loss).
    step_size : float, optional
        Gradient-descent step η; ``None`` for gradient flow.
    compiled : bool, optional
        Run the compiled race of :mod:`jumpprocess.limit.compiled` (same decisions, one
        sweep); default: for ``m · n >= COMPILED_FROM``.

    Returns
    -------
    RaceResult

    Notes
    -----
    Exponents advance as ``e_j ← e_j + λ_j Δτ`` (docs/math/race.rst, step 2) and the activating
    neurons are set to exactly 0. When all covered samples carry the same weight
    ``(y s)²`` (±1 labels, equal norms) the sums are ``count × weight``, exact and
    tie-preserving, and only counts are maintained. Cost: packing and counting read the
    pattern once; each jump costs one histogram over the fitted samples plus ``O(|R|)``
    byte operations, with ``R`` compacted whenever it has halved (module notes).
    """
    m = good_sets.shape[0]
    if m == 0:
        return RaceResult((), np.zeros((0, 0)), np.zeros((0, 0)))
    if compiled is None:
        compiled = use_compiled(m, n)
    if compiled:  # the same decisions in one compiled sweep (jumpprocess.limit.compiled)
        return RaceResult(*race_events(good_sets, signal_sq, n, step_size))
    packed = pack_neuron_bits(good_sets)
    counts = count_rows(good_sets)
    columns = np.arange(n)
    covered = np.bitwise_or.reduce(packed, axis=0) != 0
    weights = np.ascontiguousarray(signal_sq, dtype=np.float64)
    covered_weights = weights[covered]
    uniform = covered_weights.size == 0 or bool(np.all(covered_weights == covered_weights[0]))
    unit = float(covered_weights[0]) if covered_weights.size else 0.0
    sums = counts * unit if uniform else _byte_row_sums(packed[:, covered], covered_weights, m)
    initial_sums = sums.copy()
    remaining = covered.copy()  # mask over the current columns
    live = int(remaining.sum())

    exponent = -np.ones(m)
    active = np.zeros(m, dtype=bool)
    tau = 0.0
    events, exponents, rates = [], [], []
    rate = rates_from_sums(sums, n, step_size)
    while True:
        candidates = np.flatnonzero(~active & (counts > 0))
        if candidates.size == 0:
            break
        wait = -exponent[candidates] / rate[candidates]
        first = float(wait.min())
        jump_time = tau + first
        group = candidates[tau + wait <= jump_time + TIE_RTOL * jump_time]  # increasing index
        rates.append(rate.copy())
        exponent[candidates] += rate[candidates] * first
        exponent[group] = 0.0
        np.minimum(exponent, 0.0, out=exponent)  # rounding never pushes a waiting neuron past 0
        tau = jump_time
        overlapping = identical = False
        if group.size > 1:
            sets = [_bit(packed, k) & remaining for k in group]
            overlapping = bool(np.any(np.sum(sets, axis=0) > 1))
            identical = overlapping and all(np.array_equal(sets[0], other) for other in sets[1:])
        for k in group:
            in_fit = _bit(packed, k) & remaining
            hits = np.flatnonzero(in_fit)
            if hits.size == 0:
                continue  # a tied neuron whose set was taken by an earlier member
            block = packed[:, hits]
            counts -= _row_counts(block, m)
            if not uniform:
                sums -= _byte_row_sums(block, weights[hits], m)
            remaining[hits] = False
            live -= hits.size
            active[k] = True
            tied = tuple(int(j) for j in group if j != k)
            events.append(JumpEvent._from_race(float(jump_time), int(k), columns[hits], tied, overlapping, identical))
            exponents.append(exponent.copy())
            if len(rates) < len(exponents):  # later members of a tie group: zero-length plateau
                rates.append(rates[-1])
        if live < columns.size * _COMPACT_BELOW:  # compact rarely: full-width byte tests are cheaper than copies
            keep = np.flatnonzero(remaining)
            packed, columns, weights = packed[:, keep], columns[keep], weights[keep]
            remaining = np.ones(keep.size, dtype=bool)
        if uniform:
            sums = counts * unit
        else:
            sums[counts == 0] = 0.0
            # Subtraction loses the small remainder of a large sum (relative error about
            # ε·S_initial/S_remaining): recompute such sums from the remaining samples.
            for j in np.flatnonzero((counts > 0) & (sums <= _RECOMPUTE_BELOW * initial_sums)):
                sums[j] = initial_sums[j] = math.fsum(weights[_bit(packed, j) & remaining])  # re-anchor
        rate = rates_from_sums(np.maximum(sums, 0.0), n, step_size)
    J = len(events)
    return RaceResult(tuple(events), np.array(exponents).reshape(J, m), np.array(rates).reshape(J, m))
