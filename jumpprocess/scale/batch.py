"""Many trials of the limit process at once: ``simulate_many``.

Statistics of the jump process (probability of interpolation, docs/math/probability.rst;
number of activations; time to interpolate; the implicit-bias norm ratio,
docs/math/implicit-bias.rst) need thousands of independent
initializations of one problem. :func:`simulate_many` runs them as one vectorized call:
the activation patterns of all trials are built as sample-major bit masks (``⌈m/64⌉``
``uint64`` words per sample) and one compiled kernel (:mod:`jumpprocess.scale.kernels`) runs the
exponent race of every trial in parallel threads, returning compact per-trial summaries.

Two ways to obtain a trial's activation pattern (``sampling``):

``"weights"``
    Draw ``θ̄ = sample_initialization(problem, m, init, seed=seeds[t])`` and align it
    (docs/math/alignment.rst). Trial ``t`` is then *exactly* ``simulate(problem, that init, step_size, ties="index")``.
``"pattern"``
    Draw the pattern from its law. For a sign-stable initialization (``"balanced"``,
    ``"output-dominated"``) under gradient flow, ``sgn_j = sign(ā_j)`` is a fair sign and
    ``1[Ū_ji > 0]`` are fair coins, all independent (``ā_j``'s sign is drawn independently
    of ``w̄_j``, and for orthogonal inputs the ``Ū_ji = <w̄_j, x_i>`` are independent centred
    Gaussians, docs/math/probability.rst), and ``G_j = {i : Ū_ji > 0, sgn_j y_i > 0}``
    (docs/math/alignment.rst). So the
    pattern has the same law as under ``"weights"``, at the cost of ``m n`` random *bits*
    instead of ``m n`` Gaussians. Not available for the Gaussian init (whose ``a_j`` may
    flip) nor for gradient descent (docs/math/alignment.rst, "Gradient descent").

``"auto"`` (default) is ``"pattern"`` where it is valid and ``"weights"`` elsewhere.

Seeds. Trial ``t`` uses the integer seed ``seeds[t]``, the ``t``-th word of
``numpy.random.SeedSequence(seed).generate_state(trials, uint64)`` (a prefix of a longer
run's seeds), recorded in the result: any trial can be re-run alone with
``simulate(problem, trial_initialization(...), ties=summary.ties)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from ..limit.alignment import align, check_step_size
from ..limit.scaling import check_magnitudes, check_results, ldexp
from ..precision import DTYPE
from ..setting.initialization import InitKind, Initialization, sample_initialization
from ..setting.problem import OrthogonalProblem

__all__ = [
    "BatchSummary",
    "Sampling",
    "SUMMARY_FIELDS",
    "simulate_many",
    "trial_seeds",
    "pattern_initialization",
    "trial_initialization",
    "sample_pattern_masks",
    "pattern_trajectory",
]

#: Per-trial fields of a :class:`BatchSummary`, each an array of length ``trials``.
SUMMARY_FIELDS = (
    "seeds", "interpolates", "num_jumps", "first_time", "final_time", "squared_norm",
    "norm_ratio", "uncovered", "ambiguous", "function_determined", "num_tie_groups", "identical_ties",
)

#: Budget, in bytes, for the sample-major masks of one chunk of trials.
_CHUNK_BYTES = 1 << 26
_SIGN_STABLE = (InitKind.BALANCED, InitKind.OUTPUT_DOMINATED)


class Sampling(str, Enum):
    """How :func:`simulate_many` obtains each trial's activation pattern (module notes)."""

    AUTO = "auto"        #: "pattern" where its law is exact, else "weights"
    WEIGHTS = "weights"  #: sample θ̄ and align it: trial t equals simulate(...) exactly
    PATTERN = "pattern"  #: sample fair signs and fair Ū_ji > 0 bits directly (sign-stable, flow)


@dataclass(frozen=True, eq=False)
class BatchSummary:
    """Per-trial summaries of :func:`simulate_many`; ``summary["norm_ratio"]`` etc.

    Attributes
    ----------
    n, m : int
        Samples and neurons.
    init : str
        Initialization law.
    step_size : float or None
        Gradient-descent step η, or ``None`` (gradient flow).
    sampling : str
        ``"weights"`` or ``"pattern"`` (what ``"auto"`` resolved to).
    seed : int
        The ``seed`` argument: ``seeds = trial_seeds(seed, first_trial + trials)[first_trial:]``.
    seeds : ndarray of uint64, shape (trials,)
        Per-trial seeds (module notes).
    interpolates : ndarray of bool
        Every sample with ``y_i != 0`` fitted (coverage, docs/math/race.rst).
    num_jumps : ndarray of int
        Number of activations ``J``.
    first_time, final_time : ndarray of float
        First and last jump time in rescaled time ``τ = t/ln(1/σ)`` (NaN and 0.0 when
        there is no jump); ``final_time`` is the time to interpolate when ``interpolates``.
    squared_norm : ndarray of float
        ``2 Σ_k ||(y/s)_{F_k}||_2`` (docs/math/saddles.rst, docs/math/implicit-bias.rst).
    norm_ratio : ndarray of float
        ``squared_norm / min_squared_norm`` (docs/math/implicit-bias.rst; 1.0 when all labels are 0) for
        trials that interpolate, NaN for the others (a stalled network is no
        interpolator, so it has no norm ratio): ``summary["norm_ratio"].mean()`` is NaN
        as soon as one trial stalled; average the interpolating ones with
        ``np.nanmean(summary["norm_ratio"])``.
    min_squared_norm : float
        ``2(||(y/s)₊|| + ||(y/s)₋||)``, shared by all trials.
    uncovered : ndarray of int
        Number of samples never fitted.
    ambiguous : ndarray of bool
        The limit function is not determined by the race: some tie group's remaining sets
        overlapped without being identical (docs/math/ties.rst; ``Trajectory.ambiguous``), and which
        neuron fits what is the convention "lowest index first".
    function_determined : ndarray of bool
        ``~ambiguous``: the learned function, losses, times and squared norm are
        determined (``Trajectory.function_determined``).
    num_tie_groups : ndarray of int
        Jump times at which two or more neurons tied (docs/math/ties.rst).
    identical_ties : ndarray of bool
        Some tie was between neurons with identical remaining sets: the function is
        determined, not which neuron fits (``Trajectory.identical_ties``).
    trajectories : tuple of Trajectory or None
        Full trajectories when ``keep_trajectories=True``.
    first_trial : int
        Index of the first trial in the sequence of ``seed`` (the ``first_trial`` argument).
    ties : str
        The tie rule the norm columns follow (``"index"`` or ``"joint"``, docs/math/ties.rst).
    """

    n: int
    m: int
    init: str
    step_size: float | None
    sampling: str
    seed: int
    seeds: np.ndarray
    interpolates: np.ndarray
    num_jumps: np.ndarray
    first_time: np.ndarray
    final_time: np.ndarray
    squared_norm: np.ndarray
    norm_ratio: np.ndarray
    min_squared_norm: float
    uncovered: np.ndarray
    ambiguous: np.ndarray
    function_determined: np.ndarray
    num_tie_groups: np.ndarray
    identical_ties: np.ndarray
    trajectories: tuple | None = field(default=None, repr=False)
    first_trial: int = 0
    ties: str = "index"

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in SUMMARY_FIELDS:
            raise KeyError(f"unknown summary field {name!r}; fields are {SUMMARY_FIELDS}")
        return getattr(self, name)

    def __len__(self) -> int:
        return int(self.seeds.shape[0])

    def keys(self) -> tuple:
        """The per-trial field names (so ``dict(summary)`` and pandas work)."""
        return SUMMARY_FIELDS

    def records(self) -> list[dict]:
        """One plain-Python dict per trial (JSON-ready: NaN first times and norm ratios become None)."""
        columns = {name: self[name].tolist() for name in SUMMARY_FIELDS}
        rows = []
        for t in range(len(self)):
            row = {name: columns[name][t] for name in SUMMARY_FIELDS}
            for name in ("first_time", "norm_ratio"):
                if row[name] != row[name]:
                    row[name] = None
            rows.append(row)
        return rows

    # ---- display ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """``"gradient flow"`` or ``"gradient descent, η = …"``."""
        return "gradient flow" if self.step_size is None else f"gradient descent, η = {self.step_size:g}"

    def statistics(self) -> list[dict]:
        """Summary statistics over the trials, as data (what the notebook display shows).

        One dict per quantity with keys ``quantity``, ``trials`` (how many trials it is
        over), ``mean``, ``ci95`` (half-width of the normal 95% interval, ``1.96 · sd/√N``),
        ``min`` and ``max``: interpolation (a fraction), jumps, first and last jump time τ
        and norm ratio (over interpolating trials, docs/math/implicit-bias.rst), ambiguous
        trials and trials with identical-set ties (fractions, docs/math/ties.rst).

        Examples
        --------
        >>> from jumpprocess import make_problem, simulate_many
        >>> summary = simulate_many(make_problem(40, seed=0), 12, 100, seed=1)
        >>> [row["quantity"] for row in summary.statistics()][:3]
        ['interpolates', 'jumps', 'first jump time τ']
        """
        interpolating = self.interpolates.astype(bool)
        quantities = (
            ("interpolates", self.interpolates.astype(float)),
            ("jumps", self.num_jumps.astype(float)),
            ("first jump time τ", self.first_time[np.isfinite(self.first_time)]),
            ("last jump time τ (interpolating)", self.final_time[interpolating]),
            ("norm ratio (interpolating)", self.norm_ratio[interpolating]),
            ("ambiguous", self.ambiguous.astype(float)),
            ("identical-set ties", self.identical_ties.astype(float)),
        )
        rows = []
        for name, values in quantities:
            values = np.asarray(values, dtype=float)
            count = int(values.size)
            rows.append({
                "quantity": name, "trials": count,
                "mean": float(values.mean()) if count else None,
                "ci95": float(1.96 * values.std(ddof=1) / np.sqrt(count)) if count > 1 else None,
                "min": float(values.min()) if count else None,
                "max": float(values.max()) if count else None,
            })
        return rows

    def __repr__(self) -> str:
        share = f"{np.mean(self.interpolates):.3g}" if len(self) else "–"
        return (f"BatchSummary(n = {self.n}, m = {self.m}, {len(self)} trials, {self.init} init, {self.method}, "
                f"{self.sampling} sampling, seed {self.seed}: interpolating {share})")

    def _repr_html_(self) -> str:
        from .._display import html_block, html_table

        title = (f"simulate_many: n = {self.n}, m = {self.m}, {len(self)} trials, {self.init} init, "
                 f"{self.method}, {self.sampling} sampling, seed {self.seed}")
        columns = {"quantity": "quantity", "trials": "trials", "mean": "mean", "ci95": "± 95%", "min": "min",
                   "max": "max"}
        first = {"seeds": "seed", "interpolates": "interpolates", "num_jumps": "jumps", "first_time": "first τ",
                 "final_time": "last τ", "norm_ratio": "norm ratio", "ambiguous": "ambiguous"}
        records = self.records()[:5]
        return html_block(title, ["τ = t / ln(1/σ); statistics() returns this table, records() one row per trial"],
                          html_table(self.statistics(), columns)
                          + (f"<br>first {len(records)} trials:" + html_table(records, first) if records else ""))


def trial_seeds(seed, trials: int) -> np.ndarray:
    """Per-trial integer seeds: ``SeedSequence(seed).generate_state(trials, uint64)``.

    The seeds of ``trials`` are a prefix of those of any larger count.

    >>> bool(np.all(trial_seeds(7, 3) == trial_seeds(7, 5)[:3]))
    True
    """
    trials = _check_count(trials, "trials")
    if trials == 0:
        return np.zeros(0, dtype=np.uint64)
    return np.random.SeedSequence(seed).generate_state(trials, dtype=np.uint64)


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _words(m: int) -> int:
    return max(1, -(-m // 64))


def _neuron_mask(m: int) -> np.ndarray:
    """Per word, the bits that correspond to existing neurons ``j < m``."""
    words = _words(m)
    mask = np.zeros(words, dtype=np.uint64)
    for w in range(words):
        bits = min(64, max(0, m - 64 * w))
        mask[w] = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return mask


def _pattern_bits(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw law draw of one trial: (positive-sign words (W,), Ū>0 words (n, W)).

    The bits are the raw 64-bit outputs of ``numpy.random.PCG64(seed)``: first ``W`` words
    (bit ``j mod 64`` of word ``j // 64`` is 1 iff ``sgn_j = +1``), then ``n W`` words,
    sample-major (bit ``j`` of sample ``i`` is 1 iff ``Ū_ji > 0``). Bits ``>= m`` are cleared.
    """
    words = _words(m)
    raw = np.random.PCG64(int(seed)).random_raw(words * (n + 1))
    mask = _neuron_mask(m)
    positive = raw[:words] & mask
    above = raw[words:].reshape(n, words) & mask
    return positive, above


def sample_pattern_masks(problem: OrthogonalProblem, m: int, seeds, *, compiled: bool = False) -> np.ndarray:
    """Sample-major good-set masks drawn from the sign-stable law (module notes).

    Returns ``good`` of shape ``(len(seeds), n, ⌈m/64⌉)``, dtype uint64: bit ``j`` of
    ``good[t, i]`` is 1 iff ``Ū_ji > 0`` and ``sgn_j y_i > 0`` in trial ``t`` (docs/math/alignment.rst).
    ``compiled`` selects the numba combination step instead of numpy (same result).
    """
    n, words = problem.n, _words(m)
    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    mask = _neuron_mask(m)
    raw = np.empty((seeds.size, words * (n + 1)), dtype=np.uint64)
    for t, seed in enumerate(seeds.tolist()):
        raw[t] = np.random.PCG64(seed).random_raw(words * (n + 1))
    positive = raw[:, :words] & mask
    above = raw[:, words:].reshape(seeds.size, n, words)
    if compiled:
        from . import kernels

        kernels.select_signs(above, np.ascontiguousarray(positive), problem.labels, mask)
        return above
    negative = ~positive & mask
    good = np.zeros_like(above)
    labels = problem.labels
    up, down = labels > 0, labels < 0
    np.bitwise_and(above, positive[:, None, :], out=good, where=up[None, :, None])
    np.bitwise_and(above, negative[:, None, :], out=good, where=down[None, :, None])
    return good


def pattern_initialization(problem: OrthogonalProblem, m: int, seed) -> Initialization:
    """A balanced-type initialization whose activation pattern is trial ``seed``'s law draw.

    ``ā_j = 2 sgn_j`` and ``Ū_ji = ±s_i/√n`` with the signs of :func:`_pattern_bits`
    (so ``||w̄_j|| = 1 < |ā_j|``: sign-stable, docs/math/alignment.rst). Then
    ``simulate(problem, pattern_initialization(problem, m, seeds[t]), ties="index")`` reproduces trial
    ``t`` of ``simulate_many(..., sampling="pattern")`` exactly.

    Examples
    --------
    >>> from jumpprocess import make_problem
    >>> init = pattern_initialization(make_problem(6), 3, seed=11)
    >>> init.preactivations.shape, bool(init.is_sign_stable().all())
    ((3, 6), True)
    """
    m = _check_count(m, "m")
    n = problem.n
    positive, above = _pattern_bits(seed, n, m)
    j = np.arange(m)
    sign_bits = (positive[j // 64] >> (j % 64).astype(np.uint64)) & np.uint64(1)
    signs = np.where(sign_bits == 1, 1.0, -1.0)
    bits = (above[:, j // 64] >> (j % 64).astype(np.uint64)[None, :]) & np.uint64(1)  # (n, m)
    pre = np.where(bits.T == 1, 1.0, -1.0) * (problem.norms / np.sqrt(n))[None, :]
    return Initialization(pre, 2.0 * signs, np.ones(m))


def pattern_trajectory(problem: OrthogonalProblem, m: int, seed):
    """The full trajectory of one law-sampled trial, without building float weights.

    Equal to ``simulate(problem, pattern_initialization(problem, m, seed), ties="index")`` (same signs,
    good sets and race, docs/math/alignment.rst, docs/math/race.rst), but the pattern is drawn as
    bits and unpacked to the
    ``(m, n)`` good sets directly: at n = 10⁶, m = 80 it needs 80 MB instead of 640 MB of
    preactivations and no Gaussian sampling.

    >>> from jumpprocess import make_problem, simulate
    >>> problem = make_problem(50, seed=0)
    >>> a = pattern_trajectory(problem, 8, seed=3)
    >>> b = simulate(problem, pattern_initialization(problem, 8, seed=3))
    >>> a.events == b.events
    True
    """
    from ..limit.race import run_race
    from ..limit.trajectory import Trajectory

    m = _check_count(m, "m")
    positive, _ = _pattern_bits(seed, 0, m)
    j = np.arange(m)
    signs = np.where((positive[j // 64] >> (j % 64).astype(np.uint64)) & np.uint64(1), 1, -1).astype(np.int8)
    good = _unpack(sample_pattern_masks(problem, m, [seed], compiled=_numba_installed())[0], m)
    scaling = check_magnitudes(problem)  # extreme magnitudes: normalized race, scaled back (limit.scaling)
    signal = scaling.problem(problem).signal
    race = run_race(good, signal * signal, problem.n, None)
    events, rates = race.events, race.rates
    if not scaling.identity:
        events = tuple(replace(event, time=event.time / scaling.rate_factor) for event in events)
        rates = rates * scaling.rate_factor
    trajectory = Trajectory(problem=problem, step_size=None, signs=signs, good_sets=good, events=events,
                            exponents=race.exponents, rates=rates)
    if not scaling.identity:
        check_results(trajectory.jump_times, trajectory.plateau_losses, trajectory.squared_norm, rates)
    return trajectory


def _resolve_sampling(sampling, kind: InitKind, step_size) -> Sampling:
    try:
        sampling = Sampling(sampling)
    except ValueError:
        raise ValueError(f"unknown sampling {sampling!r}; expected one of {[s.value for s in Sampling]}") from None
    pattern_valid = kind in _SIGN_STABLE and step_size is None
    if sampling is Sampling.AUTO:
        return Sampling.PATTERN if pattern_valid else Sampling.WEIGHTS
    if sampling is Sampling.PATTERN and not pattern_valid:
        why = ("gradient descent can flip a_j even from a balanced init (docs/math/alignment.rst)"
               if step_size is not None
               else f"the {kind.value!r} init is not sign-stable (a_j may flip, docs/math/alignment.rst)")
        raise ValueError(f"sampling='pattern' samples the sign-stable gradient-flow law, but {why}; use sampling='weights'")
    return sampling


def trial_initialization(problem: OrthogonalProblem, summary: BatchSummary, trial: int, *, d: int | None = None) -> Initialization:
    """The initialization of one trial of ``summary``, to re-run it with ``simulate``."""
    seed = int(summary.seeds[trial])
    if summary.sampling == Sampling.PATTERN.value:
        return pattern_initialization(problem, summary.m, seed)
    return sample_initialization(problem, summary.m, summary.init, seed=seed, d=d)


def _numba_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _resolve_backend(backend: str) -> str:
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"unknown backend {backend!r}; expected 'auto', 'numba' or 'numpy'")
    if backend == "auto":
        return "numba" if _numba_installed() else "numpy"
    if backend == "numba" and not _numba_installed():
        raise ImportError("backend='numba' needs numba, a core dependency of jumpprocess that cannot be imported "
                          "here: reinstall it (pip install -e . or pip install numba)")
    return backend


def simulate_many(
    problem: OrthogonalProblem,
    m: int,
    trials: int,
    *,
    init: InitKind | str = InitKind.BALANCED,
    seed: int = 0,
    step_size: float | None = None,
    sampling: Sampling | str = Sampling.AUTO,
    keep_trajectories: bool = False,
    backend: str = "auto",
    d: int | None = None,
    first_trial: int = 0,
    ties: str = "index",
) -> BatchSummary:
    """Simulate the σ→0 limit from ``trials`` independent initializations.

    docs/math/alignment.rst to docs/math/implicit-bias.rst.

    Parameters
    ----------
    problem : OrthogonalProblem
        One problem shared by all trials.
    m : int
        Width (neurons per network), ``m >= 0``.
    trials : int
        Number of independent initializations.
    init : InitKind or str
        ``"balanced"``, ``"output-dominated"`` or ``"gaussian"``.
    seed : int
        Root seed; trial ``t`` uses ``trial_seeds(seed, first_trial + trials)[first_trial + t]``.
    step_size : float, optional
        ``None`` for gradient flow, else gradient descent with step η (rates
        ``ln(1+ηλ)/η``, docs/math/race.rst).
    sampling : {"auto", "weights", "pattern"}
        How each trial's activation pattern is drawn (module notes). With ``"weights"``
        trial ``t`` equals ``simulate(problem, sample_initialization(problem, m, init,
        seed=seeds[t], d=d), step_size, ties="index")``; with ``"pattern"`` it equals
        ``simulate(problem, pattern_initialization(problem, m, seeds[t]), ties="index")``
        (with ``ties="joint"``, the same calls with ``ties="joint"``).
    keep_trajectories : bool
        Also return every full :class:`~jumpprocess.Trajectory` (built by ``simulate``,
        or :func:`pattern_trajectory` for law-sampled trials; memory ``O(trials · m · n)``).
    backend : {"auto", "numba", "numpy"}
        ``"numba"``: the compiled parallel race of :mod:`jumpprocess.scale.kernels`.
        ``"numpy"``: the reference, :func:`jumpprocess.limit.race.run_race` per trial.
        ``"auto"``: numba when importable.
    d : int, optional
        Ambient dimension passed to :func:`sample_initialization` (weights sampling); an
        integer ``>= n`` (orthogonal data need it). The pattern law does not depend on it.
    first_trial : int
        Run trials ``first_trial, …, first_trial + trials − 1`` of the seed's sequence: the
        seeds are prefix-stable (:func:`trial_seeds`), so ``first_trial=100, trials=200``
        gives exactly trials 100–299 of a 300-trial run (a sweep grows its trial count so).
    ties : {"index", "joint"}
        The rule at overlapping ties (docs/math/ties.rst). ``"index"`` (default here, unlike
        :func:`~jumpprocess.simulate` under gradient flow): the race alone, milliseconds per
        thousand trials. ``"joint"`` (gradient flow only): each trial whose race left an
        overlapping tie is recomputed by ``simulate(..., ties="joint")`` (one finite-σ run,
        0.05–1 s at ``n ≤ 300``), which replaces its ``squared_norm``, ``norm_ratio`` and
        ``ambiguous``. Fitted sets, times and interpolation do not depend on the rule.

    Returns
    -------
    BatchSummary
        Indexable by field name (:data:`SUMMARY_FIELDS`), arrays of length ``trials``.

    Raises
    ------
    ValueError
        Non-integer ``m`` or ``trials``; unknown ``init``/``sampling``/``backend``; a step
        size that is not a number > 0; ``sampling="pattern"`` where its law is not exact.

    Notes
    -----
    Cost per trial: ``O(m n)`` bit operations for the race (docs/math/race.rst) plus the sampling:
    ``m n`` Gaussians (``"weights"``) or ``m n`` random bits (``"pattern"``). Trials are
    processed in chunks of at most 64 MiB of masks (but at least one trial per core).

    Examples
    --------
    >>> from jumpprocess import make_problem
    >>> problem = make_problem(100, "sign-balanced", seed=0)
    >>> summary = simulate_many(problem, 16, 200, seed=1)
    >>> summary["num_jumps"].shape, bool(np.nanmin(summary["norm_ratio"]) >= 1.0)
    ((200,), True)
    >>> again = simulate_many(problem, 16, 200, seed=1)
    >>> bool(np.array_equal(summary["squared_norm"], again["squared_norm"]))
    True
    """
    if not isinstance(problem, OrthogonalProblem):
        raise ValueError(f"problem must be an OrthogonalProblem, got {type(problem).__name__}")
    m = _check_count(m, "m")
    trials = _check_count(trials, "trials")
    try:
        kind = InitKind(init)
    except ValueError:
        raise ValueError(f"unknown init kind {init!r}; expected one of {[k.value for k in InitKind]}") from None
    eta = check_step_size(step_size)
    from ..limit.ties import check_ties

    rule = check_ties(ties, eta)
    mode = _resolve_sampling(sampling, kind, eta)
    backend = _resolve_backend(backend)
    first_trial = _check_count(first_trial, "first_trial")
    if d is not None:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < problem.n:
            raise ValueError(f"d (the input dimension) must be an integer >= n = {problem.n} for orthogonal data, got {d!r}")
        d = int(d)
    seeds = trial_seeds(seed, first_trial + trials)[first_trial:]
    # Extreme labels or norms: compute normalized, scale back exactly, or refuse (limit.scaling).
    scaling = check_magnitudes(problem, None, eta)
    normal, eta_normal = scaling.problem(problem), scaling.step_size(eta)
    n = problem.n
    labels, norms = normal.labels, normal.norms
    signal = normal.signal
    signal_sq = signal * signal
    ratio = labels / norms
    ratio_sq = ratio * ratio
    min_sq = float(2.0 * (np.linalg.norm(ratio[ratio > 0]) + np.linalg.norm(ratio[ratio < 0])))
    nonzero = int(np.count_nonzero(labels))

    raw = np.zeros((trials, 4))  # num_jumps, first_time, final_time, squared_norm
    fitted = np.zeros(trials, dtype=np.int64)
    identical = np.zeros(trials, dtype=bool)
    undetermined = np.zeros(trials, dtype=bool)
    ties = np.zeros(trials, dtype=np.int64)
    trajectories = [] if keep_trajectories else None

    def initialization(t):
        if mode is Sampling.PATTERN:
            return pattern_initialization(problem, m, seeds[t])
        return sample_initialization(problem, m, kind, seed=int(seeds[t]), d=d)

    if backend == "numpy":
        from ..limit.race import run_race

        for t in range(trials):
            if mode is Sampling.PATTERN:
                good_sets = _unpack(sample_pattern_masks(problem, m, seeds[t : t + 1])[0], m)
            else:
                good_sets = align(normal, scaling.init(initialization(t)), eta_normal).good_sets
            race = run_race(good_sets, signal_sq, n, eta_normal)
            raw[t], fitted[t], identical[t], ties[t], undetermined[t] = _summarize_events(race.events, ratio)
    else:
        from . import kernels

        # at least one trial per core, so that large-n trials still run in parallel
        chunk = max(os.cpu_count() or 1, _CHUNK_BYTES // (8 * n * _words(m)))
        for start in range(0, trials, chunk):
            stop = min(trials, start + chunk)
            if mode is Sampling.PATTERN:
                good = sample_pattern_masks(problem, m, seeds[start:stop], compiled=True)
            else:
                good = np.empty((stop - start, n, _words(m)), dtype=np.uint64)
                for t in range(start, stop):
                    theta = scaling.init(initialization(t))  # Ū / 2^q: Ū / s unchanged
                    certified = False
                    if eta is None and m > 0:
                        masks, certified = kernels.masks_from_weights(theta.preactivations, theta.output_weights, norms, labels)
                    if not certified:
                        masks = kernels.pack_sample_major(align(normal, theta, eta_normal).good_sets)
                    good[t - start] = masks
            out = kernels.race_summaries(good, m, signal_sq, ratio_sq, eta_normal)
            raw[start:stop] = out[:, :4]
            fitted[start:stop] = out[:, 4].astype(np.int64)
            identical[start:stop] = out[:, 5] != 0
            ties[start:stop] = out[:, 6].astype(np.int64)
            undetermined[start:stop] = out[:, 7] != 0
    if keep_trajectories:
        from ..limit.engine import simulate

        if mode is Sampling.PATTERN:
            trajectories = tuple(pattern_trajectory(problem, m, seeds[t]) for t in range(trials))
        else:
            trajectories = tuple(simulate(problem, initialization(t), eta, ties="index") for t in range(trials))
    squared = raw[:, 3].copy()
    interpolates = fitted == nonzero
    norm_ratio = squared / min_sq if min_sq > 0 else np.ones(trials)  # scale-free
    norm_ratio[~interpolates] = np.nan  # no interpolator, no ratio (field notes)
    if not scaling.identity:  # back to the problem's units (times like 1/rates, norms like y/s)
        with np.errstate(over="ignore", under="ignore"):  # out of range: refused just below
            raw[:, 1:3] /= scaling.rate_factor
        squared = np.array([ldexp(value, scaling.p - scaling.q) for value in squared])
        min_sq = ldexp(min_sq, scaling.p - scaling.q)
        check_results(raw[:, 1:3], [], squared, [])
    if rule == "joint":
        from ..limit.engine import simulate

        trajectories = None if trajectories is None else list(trajectories)
        for t in np.flatnonzero(undetermined):  # only tied trials change (docs/math/ties.rst)
            joint = simulate(problem, initialization(t), None, ties="joint")
            squared[t] = joint.squared_norm
            if interpolates[t]:
                norm_ratio[t] = joint.norm_ratio
            undetermined[t] = joint.ambiguous
            if trajectories is not None:
                trajectories[t] = joint
        trajectories = None if trajectories is None else tuple(trajectories)
    return BatchSummary(
        n=n, m=m, init=kind.value, step_size=eta, sampling=mode.value, seed=seed, seeds=seeds, first_trial=first_trial,
        interpolates=interpolates, num_jumps=raw[:, 0].astype(np.int64), first_time=raw[:, 1].copy(),
        final_time=raw[:, 2].copy(), squared_norm=squared, norm_ratio=norm_ratio, min_squared_norm=min_sq,
        uncovered=nonzero - fitted, ambiguous=undetermined, function_determined=~undetermined, num_tie_groups=ties,
        identical_ties=identical, trajectories=trajectories, ties=rule,
    )


def _unpack(good: np.ndarray, m: int) -> np.ndarray:
    """Sample-major (n, W) uint64 masks → boolean (m, n) good sets."""
    n = good.shape[0]
    # byte k of a little-endian word holds neurons 8k..8k+7; transposing the (n, 8W)
    # bytes first makes the unpacked rows the neurons, already contiguous.
    as_bytes = np.ascontiguousarray(good.astype("<u8", copy=False)).view(np.uint8).reshape(n, -1)
    bits = np.unpackbits(np.ascontiguousarray(as_bytes.T), axis=0, bitorder="little", count=m)
    return bits.view(bool)


def _summarize_events(events, ratio) -> tuple[np.ndarray, int, bool, int, bool]:
    """Summary of one race from its events (the numpy reference path)."""
    if not events:
        return np.array([0.0, np.nan, 0.0, 0.0]), 0, False, 0, False
    squared = float(sum(2.0 * np.sqrt(np.sum(ratio[list(e.fitted)] ** 2)) for e in events))
    groups = {(e.time, tuple(sorted((e.neuron,) + tuple(e.tied_with)))) for e in events if e.tied_with}
    fitted = sum(len(e.fitted) for e in events)
    return (np.array([len(events), events[0].time, events[-1].time, squared], dtype=DTYPE), fitted,
            any(e.overlapping and e.identical for e in events), len(groups),
            any(e.overlapping and not e.identical for e in events))
