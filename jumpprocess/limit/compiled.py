"""Compiled (numba) passes of one ``simulate``: the sign-stable alignment pass and the race.

They make the same decisions as the numpy code of :mod:`jumpprocess.limit.alignment`
(docs/math/alignment.rst) and :mod:`jumpprocess.limit.race` (docs/math/race.rst,
docs/math/ties.rst), in one sweep over the data instead of many numpy calls:

* :func:`sign_stable_pass` reads each row of ``Ū`` once, computing the energy
  ``Σ_{Ū_ji>0} (Ū_ji/s_i)²`` and the candidate good set ``{Ū_ji > 0, sgn(ā_j) y_i > 0}``
  together. A neuron is declared sign-stable only when ``ā_j²`` exceeds the energy by more
  than a rigorous bound on its rounding error; the others go through the exact decisions
  of the numpy module (:func:`~jumpprocess.limit.alignment._exact_sign_of_energy`, then the
  exact flow outcome). Sign stability is therefore decided exactly on both paths, and the
  signs and good sets are identical.
* :func:`race_events` runs the exponent race on sample-major bit masks (bit ``j mod 64``
  of word ``[i, j // 64]``: sample i is in ``G_j``), keeping the unfitted samples as a
  compacted list. Exponents, rates and times use the very IEEE operations of
  :func:`~jumpprocess.limit.race.run_race` in the same order, and the same tie rule (one
  group within ``TIE_RTOL``, activated in increasing index, overlap and identity tests on
  the remaining sets). With uniform weights (±1 labels, equal norms: sums are
  ``count × weight``) every number is bit-identical; otherwise only the summation order of
  the sums ``S_j`` differs (relative ~1e-16), which changes a decision only for candidate
  times exactly at the ``TIE_RTOL`` boundary.

The kernels are compiled on first use and cached on disk (``cache=True``); getting them
costs a numba import and a cache load once per process, recorded by
:func:`one_time_costs` so that timings can report it apart (the CLI does). The engine
uses them for large problems (``m · n >= COMPILED_FROM``), where they are faster
than the numpy calls; below that the numpy path costs less than loading numba.
"""

from __future__ import annotations

import time

import numpy as np

from ..precision import TIE_RTOL

__all__ = ["COMPILED_FROM", "available", "one_time_costs", "use_compiled", "sign_stable_pass", "race_events"]

#: Problems with at least this many neuron-sample pairs use the compiled passes.
COMPILED_FROM = 1 << 20

_EPS = float(np.finfo(np.float64).eps)
_SAFE_LOW, _SAFE_HIGH = 2.0**-900, 2.0**900  # as in alignment: squares outside are decided exactly
_TIE = float(TIE_RTOL)
_RECOMPUTE_BELOW = 1e-3  # as in race: a sum below this fraction of its anchor is recomputed

_COSTS: list = []       # (what, seconds) paid once per process
_KERNELS: dict = {}     # name -> compiled dispatcher (or None when numba is unavailable)


def available() -> bool:
    """Whether numba can be imported (it is a core dependency; False only in a broken install)."""
    return _numba() is not None


def one_time_costs() -> tuple:
    """``(what, seconds)`` of every numba import and kernel load or compilation so far.

    Each happens once per process; a caller timing the engine subtracts what was added
    during its call (``jumpprocess simulate`` prints them separately).
    """
    return tuple(_COSTS)


def use_compiled(m: int, n: int) -> bool:
    """The engine's choice: compiled passes for ``m · n >= COMPILED_FROM`` (when numba works)."""
    return m * n >= COMPILED_FROM and available()


def _numba():
    if "numba" not in _KERNELS:
        start = time.perf_counter()
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a core dependency
            numba = None
        else:
            _COSTS.append(("numba import", time.perf_counter() - start))
        _KERNELS["numba"] = numba
    return _KERNELS["numba"]


def kernel(name: str, function, warm_arguments, fastmath=False, helpers=()):
    """``numba.njit(cache=True)(function)``, dispatched once on tiny ``warm_arguments()``.

    The first dispatch loads the machine code from numba's disk cache, or compiles and
    caches it; its duration is recorded in :func:`one_time_costs`. ``helpers`` name the
    module functions it calls, compiled first. Returns ``None`` when numba is unavailable.
    """
    if name not in _KERNELS:
        numba = _numba()
        if numba is None:  # pragma: no cover - numba is a core dependency
            _KERNELS[name] = None
            return None
        start = time.perf_counter()
        for helper in helpers:  # compiled callees must be dispatchers when the caller compiles
            if not hasattr(globals()[helper], "py_func"):
                globals()[helper] = numba.njit(cache=True)(globals()[helper])
        dispatcher = numba.njit(cache=True, fastmath=fastmath)(function)
        dispatcher(*warm_arguments())
        misses = sum(dispatcher.stats.cache_misses.values())
        how = "compiled (and cached on disk)" if misses else "loaded from the disk cache"
        _COSTS.append((f"{name} kernel {how}", time.perf_counter() - start))
        _KERNELS[name] = dispatcher
    return _KERNELS[name]


def is_loaded(name: str) -> bool:
    """Whether kernel ``name`` is already loaded in this process (using it costs nothing more)."""
    return _KERNELS.get(name) is not None


# ---- the sign-stable alignment pass (docs/math/alignment.rst) ------------------------------

def _sign_stable_rows(U, a, inv_sq, label_sign, good, stable):
    """Per neuron: energy of the positive coordinates, stability test and candidate good set.

    Branch-free so that it vectorizes; compiled with reassociation allowed, which changes
    only the summation order of the (positive) energy terms, covered by the error bound.
    """
    m, n = U.shape
    slack = 1.0 + 4.0 * (n + 4) * 2.220446049250313e-16
    for j in range(m):
        aj = a[j]
        sign = np.int8(1) if aj > 0 else (np.int8(-1) if aj < 0 else np.int8(0))
        energy = 0.0
        for i in range(n):
            u = U[j, i]
            z = u if u > 0.0 else 0.0
            energy += (z * z) * inv_sq[i]
            good[j, i] = (u > 0.0) & (label_sign[i] == sign)
        a_sq = aj * aj
        normal = (a_sq >= 2.0**-900) and (a_sq <= 2.0**900) and (energy >= 2.0**-900) and (energy <= 2.0**900)
        stable[j] = normal and a_sq >= energy * slack
        if not stable[j]:
            for i in range(n):
                good[j, i] = False


def _warm_sign_stable():
    return (np.ones((1, 2)), np.ones(1), np.ones(2), np.ones(2, dtype=np.int8),
            np.zeros((1, 2), dtype=np.bool_), np.zeros(1, dtype=np.bool_))


def sign_stable_pass(U: np.ndarray, a: np.ndarray, norms: np.ndarray, labels: np.ndarray, good: np.ndarray):
    """The provably sign-stable neurons (returned mask) and their good sets (into ``good``).

    ``stable[j]`` is True only when ``ā_j² >= (1 + 4(n+4)ε) · Σ_{Ū_ji>0} Ū_ji²/s_i²`` with both
    sides in the normal range (then ``C_j >= 0`` exactly); ``good[j]`` (bool, C-contiguous,
    shape (m, n)) is then ``{Ū_ji > 0, sgn(ā_j) y_i > 0}`` and False elsewhere. Rows not
    declared stable need the exact decision of the numpy module.
    """
    run = kernel("alignment", _sign_stable_rows, _warm_sign_stable, fastmath={"reassoc", "nsz"})
    stable = np.empty(U.shape[0], dtype=np.bool_)
    norms = np.asarray(norms, dtype=np.float64)
    inv_sq = 1.0 / (norms * norms)  # within an ulp or two of s⁻² (the bound allows it); x ** -2.0 costs 20x more
    run(np.ascontiguousarray(U, dtype=np.float64), np.ascontiguousarray(a, dtype=np.float64), inv_sq,
        np.sign(labels).astype(np.int8), good, stable)
    return stable


# ---- the race (docs/math/race.rst, docs/math/ties.rst) -------------------------------------

def _add_lane_counts(words, counts, row, sign):
    """``counts[8·row + k] += sign · Σ_w popcount(words[w] & (0x0101…01 << k))``.

    ``words`` are eight bytes of byte row ``row`` each; byte p of lane k counts bit k of
    every eighth byte (at most 255 words per round, the capacity of a byte), and the eight
    bytes of a lane are then summed pairwise.
    """
    low = np.uint64(0x0101010101010101)
    totals = np.zeros(8, dtype=np.int64)
    for begin in range(0, words.shape[0], 255):
        l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = np.uint64(0)
        for w in range(begin, min(words.shape[0], begin + 255)):
            x = words[w]
            l0 += x & low
            l1 += (x >> np.uint64(1)) & low
            l2 += (x >> np.uint64(2)) & low
            l3 += (x >> np.uint64(3)) & low
            l4 += (x >> np.uint64(4)) & low
            l5 += (x >> np.uint64(5)) & low
            l6 += (x >> np.uint64(6)) & low
            l7 += (x >> np.uint64(7)) & low
        lanes = (l0, l1, l2, l3, l4, l5, l6, l7)
        for k in range(8):
            x = lanes[k]
            x = (x & np.uint64(0x00FF00FF00FF00FF)) + ((x >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF))
            x = (x & np.uint64(0x0000FFFF0000FFFF)) + ((x >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF))
            x = (x & np.uint64(0x00000000FFFFFFFF)) + (x >> np.uint64(32))
            totals[k] += np.int64(x)
    for k in range(min(8, counts.shape[0] - 8 * row)):
        counts[8 * row + k] += sign * totals[k]


def _subtract_counts(packed, fitted, start, stop, buffer, counts):
    """``counts[j] -= |{f in fitted[start:stop] : bit j of sample f}|`` for every neuron j
    (the fitted samples' bytes gathered per byte row, then counted in lanes)."""
    size = stop - start
    padded = (size + 7) // 8 * 8
    for r in range(packed.shape[0]):
        for f in range(size):
            buffer[f] = packed[r, fitted[start + f]]
        for f in range(size, padded):
            buffer[f] = 0
        _add_lane_counts(buffer[:padded].view(np.uint64), counts, r, -1)


def _initial_counts(packed, n, buffer, counts):
    """``counts[j] = |G_j|`` from the packed rows (lane counts over each whole row)."""
    padded = (n + 7) // 8 * 8
    for r in range(packed.shape[0]):
        if padded == n:  # whole words: count the row in place
            _add_lane_counts(packed[r].view(np.uint64), counts, r, 1)
            continue
        buffer[:n] = packed[r]
        buffer[n:padded] = 0
        _add_lane_counts(buffer[:padded].view(np.uint64), counts, r, 1)


def _race(packed, counts, sums, remaining, live, uniform, unit, weights, n, step_size, times, neurons, group_of,
          group_members, group_offsets, overlapping, identical, fitted, fitted_offsets, exponents, rates):
    """The exponent race on the packed pattern; fills the event arrays, returns the jump count.

    ``packed[r, i]`` holds bits ``8r .. 8r+7`` of sample i (:func:`~jumpprocess.limit.race.pack_neuron_bits`).
    ``sums`` and the ``live`` unfitted samples ``remaining`` come as
    :func:`~jumpprocess.limit.race.run_race` starts them; ``counts`` (zeros) are counted
    here and drop by lane counting (:func:`_subtract_counts`), and the unfitted samples
    stay a compacted list.
    Mirrors ``run_race``: same exponent update, candidate test, tie group and rate formula.
    """
    m = counts.shape[0]
    buffer = np.empty(n + 8, dtype=np.uint8)
    _initial_counts(packed, n, buffer, counts)
    anchors = sums.copy()
    rate = np.zeros(m)
    for j in range(m):
        s = counts[j] * unit if uniform else sums[j]
        lam = np.sqrt(s) / n
        rate[j] = lam if step_size <= 0.0 else np.log1p(step_size * lam) / step_size
    exponent = -np.ones(m)
    active = np.zeros(m, dtype=np.bool_)
    group = np.empty(m, dtype=np.int64)
    tau = 0.0
    jumps = 0
    groups = 0
    stored = 0
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
        threshold = jump_time + _TIE * jump_time
        size = 0
        for j in range(m):
            if not active[j] and counts[j] > 0:
                if tau + (-exponent[j] / rate[j]) <= threshold:
                    group[size] = j
                    size += 1
        rates_now = rate.copy()
        for j in range(m):
            if not active[j] and counts[j] > 0:
                exponent[j] += rate[j] * first
        for g in range(size):
            exponent[group[g]] = 0.0
        for j in range(m):
            if exponent[j] > 0.0:
                exponent[j] = 0.0
        tau = jump_time
        overlap = False
        same = False
        if size > 1:
            same = True
            for q in range(live):
                i = remaining[q]
                hits = 0
                for g in range(size):
                    k = group[g]
                    hits += (packed[k >> 3, i] >> (k & 7)) & 1
                if hits > 1:
                    overlap = True
                if hits != 0 and hits != size:
                    same = False
            same = same and overlap
        for g in range(size):
            group_members[group_offsets[groups] + g] = group[g]
        group_offsets[groups + 1] = group_offsets[groups] + size
        for g in range(size):
            k = group[g]
            row = k >> 3
            shift = k & 7
            kept = 0
            start = stored
            for q in range(live):  # branch-free partition: membership is a coin flip
                i = remaining[q]
                bit = np.int64((packed[row, i] >> shift) & 1)
                fitted[stored] = i
                remaining[kept] = i
                stored += bit
                kept += 1 - bit
            live = kept
            if stored == start:
                continue  # a tied neuron whose set was taken by an earlier member
            _subtract_counts(packed, fitted, start, stored, buffer, counts)  # and sums, below
            if not uniform:
                for r in range(packed.shape[0]):
                    for f in range(start, stored):
                        i = fitted[f]
                        b = packed[r, i]
                        for bit in range(min(8, m - 8 * r)):
                            if (b >> bit) & 1:
                                sums[8 * r + bit] -= weights[i]
            active[k] = True
            times[jumps] = jump_time
            neurons[jumps] = k
            group_of[jumps] = groups
            overlapping[jumps] = overlap
            identical[jumps] = same
            fitted_offsets[jumps + 1] = stored
            for j in range(m):
                exponents[jumps, j] = exponent[j]
                rates[jumps, j] = rates_now[j]
            jumps += 1
        groups += 1
        for j in range(m):
            if uniform:
                s = counts[j] * unit
            else:
                if counts[j] == 0:
                    sums[j] = 0.0
                elif sums[j] <= _RECOMPUTE_BELOW * anchors[j]:
                    total = 0.0
                    row = j >> 3
                    shift = j & 7
                    for q in range(live):
                        i = remaining[q]
                        if (packed[row, i] >> shift) & 1:
                            total += weights[i]
                    sums[j] = total
                    anchors[j] = total
                s = max(sums[j], 0.0)
            lam = np.sqrt(s) / n
            rate[j] = lam if step_size <= 0.0 else np.log1p(step_size * lam) / step_size
    return jumps


def _race_buffers(m: int, n: int):
    return (np.empty(m), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64),
            np.zeros(m + 1, dtype=np.int64), np.empty(m, dtype=np.bool_), np.empty(m, dtype=np.bool_),
            np.empty(n, dtype=np.int64), np.zeros(m + 1, dtype=np.int64), np.empty((m, m)), np.empty((m, m)))


def _warm_race():
    return (np.ones((1, 1), dtype=np.uint8), np.ones(1, dtype=np.int64), np.zeros(1), np.zeros(1, dtype=np.int64), 1,
            True, 1.0, np.ones(1), 1, -1.0, *_race_buffers(1, 1))


def race_events(good_sets: np.ndarray, signal_sq: np.ndarray, n: int, step_size: float | None):
    """Run the race compiled; returns ``(events, exponents (J, m), rates (J, m))``.

    ``events`` are :class:`~jumpprocess.limit.race.JumpEvent` records equal to those of
    :func:`~jumpprocess.limit.race.run_race` (module notes). The start (packing, counts,
    covered samples, uniformity, sums) is ``run_race``'s own numpy code.
    """
    from .race import JumpEvent, _byte_row_sums, pack_neuron_bits

    run = kernel("race", _race, _warm_race, helpers=("_add_lane_counts", "_subtract_counts", "_initial_counts"))
    m = good_sets.shape[0]
    packed = pack_neuron_bits(np.asarray(good_sets, dtype=bool))
    counts = np.zeros(m, dtype=np.int64)
    covered = np.bitwise_or.reduce(packed, axis=0) != 0
    weights = np.ascontiguousarray(signal_sq, dtype=np.float64)
    covered_weights = weights[covered]
    uniform = covered_weights.size == 0 or bool(np.all(covered_weights == covered_weights[0]))
    unit = float(covered_weights[0]) if covered_weights.size else 0.0
    sums = np.zeros(m) if uniform else _byte_row_sums(packed[:, covered], covered_weights, m)
    remaining = np.empty(n, dtype=np.int64)
    live = int(np.count_nonzero(covered))
    remaining[:live] = np.flatnonzero(covered)
    buffers = _race_buffers(m, n)
    (times, neurons, group_of, group_members, group_offsets, overlapping, identical, fitted, fitted_offsets,
     exponents, rates) = buffers
    jumps = run(packed, counts, np.ascontiguousarray(sums, dtype=np.float64), remaining, live, uniform, unit, weights,
                int(n), -1.0 if step_size is None else float(step_size), *buffers)
    events = []
    for k in range(jumps):
        g = group_of[k]
        members = group_members[group_offsets[g]: group_offsets[g + 1]].tolist()
        neuron = int(neurons[k])
        tied = tuple(int(j) for j in members if j != neuron)
        events.append(JumpEvent._from_race(float(times[k]), neuron, fitted[fitted_offsets[k]: fitted_offsets[k + 1]].copy(),
                                           tied, bool(overlapping[k]), bool(identical[k])))
    return tuple(events), exponents[:jumps].copy(), rates[:jumps].copy()
