"""Compiled (numba) kernels of the batched race.

docs/math/alignment.rst, docs/math/race.rst, docs/math/ties.rst.

The batched engine (:mod:`jumpprocess.scale.batch`) stores activation patterns *sample-major*:
``good[t, i, w]`` is a ``uint64`` whose bit ``b`` says whether neuron ``j = 64 w + b`` has
sample ``i`` in its good set ``G_j`` in trial ``t`` (``W = ⌈m/64⌉`` words per sample).
With this layout

* the initial per-neuron counts ``c_j = |G_j|`` and sums ``S_j = Σ_{i∈G_j} (y_i s_i)²`` cost
  one branch-free (vectorized) pass over each sample's ``m`` bits;
* fitting ``F = G_k ∩ R`` subtracts each fitted sample's bits once, so over the whole race
  every sample's word is read twice: ``O(m n)`` per trial, the bound of docs/math/race.rst (the sums
  are skipped when all weights are equal: then ``S_j = c_j × weight`` exactly);
* finding ``G_k ∩ R`` scans the remaining samples only (kept as a compacted index list).

:func:`race_summaries` reproduces :func:`jumpprocess.limit.race.run_race` decision by decision:
the same exponent update ``e_j ← e_j + λ_j Δτ``, the same tie rule (candidate times within
:data:`~jumpprocess.precision.TIE_RTOL` relative form one group, activated in increasing
neuron index, each fitting what remains of its set), the same overlap and identity tests
of tie groups, the same exact integer counts (a neuron left with an empty set has rate
exactly 0), and the same ``counts × weight`` arithmetic when every covered sample has the
same weight (±1 labels, equal norms), which keeps exact ties exact. Only the summation
order of non-uniform weights differs (relative differences ~1e-15).

This module imports numba (a core dependency); :mod:`jumpprocess.scale.batch` imports it only
when a compiled batch runs (and falls back to its numpy reference path if numba cannot be
imported). Kernels are compiled on first use and cached on disk (``cache=True``), so a new
process loads them instead of compiling again.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from numba import njit, prange

from ..precision import TIE_RTOL

__all__ = ["available", "race_summaries", "masks_from_weights", "pack_sample_major", "select_signs", "SUMMARY_COLUMNS"]

#: Columns of the float matrix returned by :func:`race_summaries`, in order.
SUMMARY_COLUMNS = ("num_jumps", "first_time", "final_time", "squared_norm", "fitted", "identical_ties", "num_tie_groups",
                   "ambiguous")

#: A non-uniform sum that fell below this fraction of its anchor is recomputed from the
#: remaining samples (as ``run_race`` does): subtraction error stays below ~eps/1e-3.
_RECOMPUTE_BELOW = 1e-3

_TIE_RTOL = float(TIE_RTOL)


def available() -> bool:
    """Whether numba is installed (the compiled path can be used), without importing it."""
    return importlib.util.find_spec("numba") is not None


@njit(cache=True, inline="always")
def add_bits(counts, sums, word, w, weight, sign, track_sums):
    """counts[64w + b] += sign (and sums += sign·weight) for every set bit b of word.

    A branch-free loop over all 64 bits: it vectorizes, and is faster than visiting
    only the set bits when a quarter of them are set (the sign-stable density).
    """
    top = min(64, counts.shape[0] - 64 * w)
    if track_sums:
        for b in range(top):
            bit = np.int64((word >> np.uint64(b)) & np.uint64(1))
            counts[64 * w + b] += sign * bit
            sums[64 * w + b] += (sign * bit) * weight
    else:
        for b in range(top):
            counts[64 * w + b] += sign * np.int64((word >> np.uint64(b)) & np.uint64(1))

@njit(cache=True)
def one_race(good, m, weights, ratio_sq, step_size, track_sums, out):
    n, words = good.shape
    counts = np.zeros(m, dtype=np.int64)
    sums = np.zeros(m)
    anchors = np.zeros(m)
    remaining = np.empty(n, dtype=np.int64)
    live = 0
    first_weight = 0.0
    uniform = True
    for i in range(n):
        covered = False
        for w in range(words):
            word = good[i, w]
            if word != 0:
                covered = True
                add_bits(counts, sums, word, w, weights[i], 1, track_sums)
        if covered:
            if live == 0:
                first_weight = weights[i]
            elif weights[i] != first_weight:
                uniform = False
            remaining[live] = i
            live += 1
    rate = np.zeros(m)
    for j in range(m):
        anchors[j] = sums[j]
        s = counts[j] * first_weight if uniform else sums[j]
        lam = np.sqrt(max(s, 0.0)) / n
        rate[j] = lam if step_size <= 0.0 else np.log1p(step_size * lam) / step_size
    exponent = -np.ones(m)
    active = np.zeros(m, dtype=np.bool_)
    in_group = np.zeros(m, dtype=np.bool_)
    group = np.empty(m, dtype=np.int64)
    tau = 0.0
    jumps = 0
    first_time = np.nan
    squared_norm = 0.0
    fitted_total = 0
    identical_tie = False
    undetermined = False
    tie_groups = 0
    while True:
        first = np.inf
        found = False
        for j in range(m):
            if not active[j] and counts[j] > 0:
                wait = -exponent[j] / rate[j]
                found = True
                if wait < first:
                    first = wait
        if not found:
            break
        jump_time = tau + first
        threshold = jump_time + _TIE_RTOL * jump_time
        size = 0
        for j in range(m):
            if not active[j] and counts[j] > 0:
                wait = -exponent[j] / rate[j]
                member = tau + wait <= threshold
                exponent[j] += rate[j] * first
                if member:
                    group[size] = j
                    size += 1
                    in_group[j] = True
        for g in range(size):
            exponent[group[g]] = 0.0
        for j in range(m):
            if exponent[j] > 0.0:
                exponent[j] = 0.0
        tau = jump_time
        if size > 1:
            # overlapping: some remaining sample in two members' sets; identical: every
            # remaining sample in none or all of them (then the function is determined)
            tie_groups += 1
            overlap = False
            identical = True
            for r in range(live):
                i = remaining[r]
                hits = 0
                for g in range(size):
                    k = group[g]
                    if (good[i, k >> 6] >> np.uint64(k & 63)) & np.uint64(1):
                        hits += 1
                if hits > 1:
                    overlap = True
                if hits != 0 and hits != size:
                    identical = False
            if overlap:
                if identical:
                    identical_tie = True
                else:
                    undetermined = True
        for g in range(size):
            k = group[g]
            in_group[k] = False
            word_index = k >> 6
            shift = np.uint64(k & 63)
            kept = 0
            fit_count = 0
            fit_mass = 0.0
            for r in range(live):
                i = remaining[r]
                if (good[i, word_index] >> shift) & np.uint64(1):
                    fit_count += 1
                    fit_mass += ratio_sq[i]
                    for w in range(words):
                        word = good[i, w]
                        if word != 0:
                            add_bits(counts, sums, word, w, weights[i], -1, track_sums)
                else:
                    remaining[kept] = i
                    kept += 1
            live = kept
            if fit_count == 0:
                continue  # a tied neuron whose set was taken by an earlier member
            active[k] = True
            jumps += 1
            if jumps == 1:
                first_time = jump_time
            fitted_total += fit_count
            squared_norm += 2.0 * np.sqrt(fit_mass)
        for j in range(m):
            if uniform:
                s = counts[j] * first_weight
            else:
                if counts[j] == 0:
                    sums[j] = 0.0
                elif sums[j] <= _RECOMPUTE_BELOW * anchors[j]:
                    total = 0.0
                    word_index = j >> 6
                    shift = np.uint64(j & 63)
                    for r in range(live):
                        i = remaining[r]
                        if (good[i, word_index] >> shift) & np.uint64(1):
                            total += weights[i]
                    sums[j] = total
                    anchors[j] = total
                s = sums[j]
            lam = np.sqrt(max(s, 0.0)) / n
            rate[j] = lam if step_size <= 0.0 else np.log1p(step_size * lam) / step_size
    out[0] = jumps
    out[1] = first_time
    out[2] = tau if jumps > 0 else 0.0
    out[3] = squared_norm
    out[4] = fitted_total
    out[5] = 1.0 if identical_tie else 0.0
    out[6] = tie_groups
    out[7] = 1.0 if undetermined else 0.0

@njit(cache=True, parallel=True)
def race_many(good, m, weights, ratio_sq, step_size, track_sums):
    trials = good.shape[0]
    out = np.empty((trials, 8))
    for t in prange(trials):
        one_race(good[t], m, weights, ratio_sq, step_size, track_sums, out[t])
    return out

@njit(cache=True, nogil=True)
def from_weights(pre, output, inv_norms, label_sign, margin):
    m, n = pre.shape
    words = max(1, (m + 63) // 64)
    good = np.zeros((n, words), dtype=np.uint64)
    certified = True
    for j in range(m):
        a = output[j]
        positive = 0.0
        for i in range(n):
            u = pre[j, i]
            if u > 0.0:
                z = u * inv_norms[i]
                positive += z * z
        if not a * a >= positive * (1.0 + margin):
            certified = False
            continue
        sign = 1 if a > 0 else (-1 if a < 0 else 0)
        if sign == 0:
            continue
        bit = np.uint64(1) << np.uint64(j & 63)
        for i in range(n):
            if pre[j, i] > 0.0 and label_sign[i] == sign:
                good[i, j >> 6] |= bit
    return good, certified

@njit(cache=True, parallel=True)
def _select_signs(above, positive, label_sign, mask):
    trials, n, words = above.shape
    for t in prange(trials):
        for i in range(n):
            for w in range(words):
                if label_sign[i] > 0:
                    above[t, i, w] &= positive[t, w]
                elif label_sign[i] < 0:
                    above[t, i, w] &= ~positive[t, w] & mask[w]
                else:
                    above[t, i, w] = np.uint64(0)

@njit(cache=True, nogil=True)
def _pack(good_sets):
    m, n = good_sets.shape
    words = max(1, (m + 63) // 64)
    out = np.zeros((n, words), dtype=np.uint64)
    for j in range(m):
        bit = np.uint64(1) << np.uint64(j & 63)
        for i in range(n):
            if good_sets[j, i]:
                out[i, j >> 6] |= bit
    return out


def race_summaries(good: np.ndarray, m: int, signal_sq: np.ndarray, ratio_sq: np.ndarray, step_size: float | None):
    """Run the exponent race (docs/math/race.rst, docs/math/ties.rst) on many sample-major patterns at once.

    Parameters
    ----------
    good : ndarray of uint64, shape (trials, n, W)
        Bit ``b`` of ``good[t, i, w]``: sample ``i`` is in ``G_{64w+b}`` in trial ``t``. Must
        exclude samples with ``y_i = 0`` and bits ``>= m``.
    m : int
        Number of neurons.
    signal_sq : ndarray, shape (n,)
        ``(y_i s_i)²``, the weights of the rates ``λ_j = sqrt(Σ_{G_j∩R} (y_i s_i)²)/n``.
    ratio_sq : ndarray, shape (n,)
        ``(y_i / s_i)²``: a neuron fitting ``F`` adds ``2 sqrt(Σ_F (y/s)²)`` to the squared
        norm (docs/math/saddles.rst, docs/math/implicit-bias.rst).
    step_size : float or None
        Gradient-descent step η (rates ``ln(1+ηλ)/η``), ``None`` for gradient flow.

    Returns
    -------
    ndarray, shape (trials, 8)
        Columns :data:`SUMMARY_COLUMNS`: number of jumps, first and last jump time (NaN
        and 0.0 without jumps), squared norm, number of fitted samples, whether some
        overlapping tie had identical remaining sets (function determined, docs/math/ties.rst), number
        of tie groups of two or more neurons, and whether some overlapping tie had
        non-identical remaining sets (ambiguous: the learned function itself is
        undetermined by the race).

    Notes
    -----
    Trials run in parallel threads (``numba.prange``); cost ``O(m n)`` per trial.
    """
    n = signal_sq.shape[0]
    weights = np.ascontiguousarray(signal_sq, dtype=np.float64)
    good = np.ascontiguousarray(good, dtype=np.uint64)
    if good.ndim != 3 or good.shape[1] != n:
        raise ValueError(f"good must have shape (trials, n={n}, W), got {good.shape}")
    step = -1.0 if step_size is None else float(step_size)
    nonzero = weights[weights != 0]
    # All possible good-set members share one weight: counts × weight is exact, no sums needed.
    track_sums = bool(nonzero.size and np.any(nonzero != nonzero[0]))
    return race_many(good, int(m), weights, np.ascontiguousarray(ratio_sq, dtype=np.float64),
                                step, track_sums)


def masks_from_weights(preactivations, output_weights, norms, labels, margin: float = 1e-9):
    """Sample-major good-set masks of a certified sign-stable initialization (docs/math/alignment.rst).

    A neuron is certified when ``ā_j² >= (1 + margin) Σ_{Ū_ji>0} (Ū_ji/s_i)²``, which implies
    sign stability under gradient flow with room for rounding; then
    ``G_j = {i : Ū_ji > 0, sgn(ā_j) y_i > 0}``. Returns ``(good (n, W) uint64, certified)``;
    when ``certified`` is False some neuron needs the exact alignment of
    :func:`jumpprocess.limit.alignment.align` and the masks must not be used.
    """
    label_sign = np.sign(np.asarray(labels)).astype(np.int64)
    return from_weights(np.ascontiguousarray(preactivations, dtype=np.float64),
                                   np.ascontiguousarray(output_weights, dtype=np.float64),
                                   1.0 / np.asarray(norms, dtype=np.float64), label_sign, float(margin))


def select_signs(above: np.ndarray, positive: np.ndarray, labels, mask: np.ndarray) -> None:
    """In place: ``above[t, i] &= positive[t]`` (``y_i > 0``), ``&= ~positive[t] & mask`` (``y_i < 0``), else 0.

    Turns law-sampled ``1[Ū_ji > 0]`` bits into good-set masks ``G_j`` (docs/math/alignment.rst).
    """
    label_sign = np.sign(np.asarray(labels)).astype(np.int64)
    _select_signs(above, positive, label_sign, mask)


def pack_sample_major(good_sets: np.ndarray) -> np.ndarray:
    """Pack a boolean (m, n) pattern into sample-major (n, W) uint64 masks (compiled)."""
    return _pack(np.ascontiguousarray(good_sets, dtype=np.bool_))
