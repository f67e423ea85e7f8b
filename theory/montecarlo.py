"""Monte Carlo study: the engine against the theory (docs/math/probability.rst, docs/math/implicit-bias.rst).

* :func:`interpolation_study` — over a grid of ``(n, m)``, the empirical frequency with
  which :func:`jumpprocess.simulate` interpolates (``sign-balanced`` labels, the paper's
  balanced init drawn as real Gaussian weights) against the exact probability
  :func:`theory.probability.interpolation_probability`, in standard errors
  ``√(p(1−p)/T)`` of the exact ``p``.
* :func:`norm_ratio_study` — the mean ratio learned / minimal squared norm of the interpolating
  runs against ``n``, with its standard error (the conjecture of docs/math/implicit-bias.rst).

Overlapping ties (docs/math/ties.rst): both studies take ``ties``, passed to ``simulate``.
The norm ratio uses ``"joint"`` by default (the σ→0 limit determined by the joint escape);
the interpolation frequency uses ``"index"`` by default, since whether a run interpolates
does not depend on the tie rule (the fitted union is the race's under both) and ``"index"``
costs milliseconds where ``"joint"`` runs the finite-σ engine once per tied trial.

Each trial is one call of ``simulate`` on ``sample_initialization(problem, m, init,
seed=trial_seeds(seed, T)[t])``, so any trial can be re-run alone. Run as a script to
print the markdown tables::

    python -m theory.montecarlo --ns 10 100 1000 --ms 4:40:2 --trials 400 \\
        --ratio-ns 100 1000 10000 100000 --ratio-trials 200 --seed 0

``--ties index`` gives the norm-ratio table under the older convention (milliseconds per
trial; ``joint`` costs about 0.2–0.6 s per tied trial at n ≤ 300 and seconds at n = 1000,
and about a third to a fifth of the trials tie there, benchmarks/ties_study.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from .probability import log_interpolation_probability

__all__ = [
    "TIE_RULES",
    "InterpolationRow",
    "NormRatioRow",
    "interpolation_study",
    "norm_ratio_study",
    "interpolation_table",
    "norm_ratio_table",
    "default_width",
    "main",
]


@dataclass(frozen=True)
class InterpolationRow:
    """One ``(n, m)`` cell of :func:`interpolation_study`.

    Attributes
    ----------
    n, m, trials : int
    n_pos, n_neg : int
        Positive and negative labels (``sign-balanced``: ``n // 2`` positive).
    interpolated : int
        Trials whose limit interpolates.
    exact : float
        ``P(m, n₊, n₋)`` (docs/math/probability.rst), from its log-space evaluation (relative error ~1e-12).
    """

    n: int
    m: int
    trials: int
    n_pos: int
    n_neg: int
    interpolated: int
    exact: float

    @property
    def empirical(self) -> float:
        return self.interpolated / self.trials

    @property
    def standard_error(self) -> float:
        """``√(p(1−p)/T)`` with the exact ``p``: the standard deviation of the frequency."""
        return math.sqrt(self.exact * (1.0 - self.exact) / self.trials)

    @property
    def z_score(self) -> float:
        """``(p̂ − p) / SE``; 0 when both are the same degenerate value."""
        difference = self.empirical - self.exact
        if self.standard_error == 0.0:
            return 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
        return difference / self.standard_error


@dataclass(frozen=True)
class NormRatioRow:
    """One ``n`` of :func:`norm_ratio_study`: ``squared_norm / min_squared_norm`` (docs/math/implicit-bias.rst)."""

    n: int
    m: int
    trials: int
    interpolated: int
    mean_ratio: float
    std_ratio: float

    @property
    def standard_error(self) -> float:
        return self.std_ratio / math.sqrt(self.interpolated) if self.interpolated > 1 else math.nan


TIE_RULES = ("index", "joint")
"""The values of ``ties`` (:func:`jumpprocess.simulate`, docs/math/ties.rst)."""


def default_width(n: int) -> int:
    """``round(4 log₂ n)``: the width of the simulations behind the conjecture (docs/math/implicit-bias.rst)."""
    return max(1, round(4 * math.log2(n)))


def _trials(problem, m: int, trials: int, seed: int, init: str, *, ties: str):
    """The trajectories of trials ``t = 0 … trials−1``: ``simulate(problem, init_t, ties=ties)``
    with ``init_t = sample_initialization(problem, m, init, seed=trial_seeds(seed, trials)[t])``."""
    from jumpprocess import sample_initialization, simulate
    from jumpprocess.scale.batch import trial_seeds

    for trial_seed in trial_seeds(seed, trials):
        yield simulate(problem, sample_initialization(problem, m, init, seed=int(trial_seed)), ties=ties)


def interpolation_study(ns, ms, trials: int, *, seed: int = 0, init: str = "balanced",
                        ties: str = "index") -> tuple:
    """Interpolation frequency of the engine against the exact probability (docs/math/probability.rst).

    Parameters
    ----------
    ns, ms : iterables of int
        Sample sizes and widths (all pairs are run).
    trials : int
        Initializations per ``(n, m)``.
    seed : int
        Root seed: the problem of size ``n`` uses ``make_problem(n, seed=seed)`` and cell
        ``(n, m)`` draws its trials from root seed ``(seed, n, m)``.
    init : str
        A sign-stable, symmetric init (``"balanced"`` or ``"output-dominated"``), the
        setting of the formula.
    ties : {"index", "joint"}
        Passed to :func:`jumpprocess.simulate`. The result does not depend on it: at an
        overlapping tie the joint escape changes only how the shared samples are split
        between the tied neurons, not the union they fit nor any later jump
        (docs/math/ties.rst, "The joint escape"), so coverage, hence interpolation, is the
        same. ``"index"`` (default) costs milliseconds per trial; ``"joint"`` runs the
        finite-σ engine once per tied trial and is there to check that claim.

    Returns
    -------
    tuple of InterpolationRow

    Raises
    ------
    ValueError
        If ``ties`` is not ``"index"`` or ``"joint"``.
    """
    from jumpprocess import make_problem
    from jumpprocess.limit.ties import check_ties

    ties = check_ties(ties)

    rows = []
    for n in ns:
        problem = make_problem(int(n), "sign-balanced", seed=seed)
        n_pos = int(np.sum(problem.labels > 0))
        n_neg = int(np.sum(problem.labels < 0))
        for m in ms:
            cell_seed = int(np.random.SeedSequence([seed, int(n), int(m)]).generate_state(1)[0])
            interpolated = sum(traj.interpolates for traj in _trials(problem, int(m), trials, cell_seed, init,
                                                                      ties=ties))
            rows.append(InterpolationRow(int(n), int(m), int(trials), n_pos, n_neg, int(interpolated),
                                         math.exp(log_interpolation_probability(int(m), n_pos, n_neg))))
    return tuple(rows)


def norm_ratio_study(ns, trials: int, *, widths=None, seed: int = 0, init: str = "balanced",
                     labels: str = "sign-balanced", ties: str = "joint") -> tuple:
    """Mean learned / minimal squared norm of interpolating runs against ``n`` (docs/math/implicit-bias.rst).

    Parameters
    ----------
    ns : iterable of int
    trials : int
    widths : iterable of int, optional
        One width per ``n``; default :func:`default_width` (``round(4 log₂ n)``).
    seed : int
    init, labels : str
        As in :func:`jumpprocess.sample_initialization` and :func:`jumpprocess.make_problem`.
    ties : {"joint", "index"}
        Passed to :func:`jumpprocess.simulate`. ``"joint"`` (default): at an overlapping tie
        the shared samples are split as the joint escape does, the σ→0 limit
        (docs/math/ties.rst); ``"index"``: the lowest neuron index takes them, the older
        convention, which shifts the squared norm of tied trials (see docs/studies.rst).

    Returns
    -------
    tuple of NormRatioRow

    Raises
    ------
    ValueError
        If ``ties`` is not ``"index"`` or ``"joint"``.
    """
    from jumpprocess import make_problem
    from jumpprocess.limit.ties import check_ties

    ties = check_ties(ties)

    ns = [int(n) for n in ns]
    widths = [default_width(n) for n in ns] if widths is None else [int(m) for m in widths]
    rows = []
    for n, m in zip(ns, widths):
        problem = make_problem(n, labels, seed=seed)
        cell_seed = int(np.random.SeedSequence([seed, n, m, 8]).generate_state(1)[0])
        ratios = [traj.norm_ratio for traj in _trials(problem, m, trials, cell_seed, init, ties=ties)
                  if traj.interpolates]
        ratios = np.asarray(ratios)
        rows.append(NormRatioRow(n, m, int(trials), int(ratios.size),
                                 float(ratios.mean()) if ratios.size else math.nan,
                                 float(ratios.std(ddof=1)) if ratios.size > 1 else math.nan))
    return tuple(rows)


def interpolation_table(rows) -> str:
    """Markdown table of :func:`interpolation_study` rows."""
    lines = [
        "| n | m | trials | interpolated | empirical | exact P | SE | z | within 3 SE |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.n} | {row.m} | {row.trials} | {row.interpolated} | {row.empirical:.4f} | {row.exact:.4f} | "
            f"{row.standard_error:.4f} | {row.z_score:+.2f} | {'yes' if abs(row.z_score) <= 3 else '**no**'} |"
        )
    return "\n".join(lines)


def norm_ratio_table(rows) -> str:
    """Markdown table of :func:`norm_ratio_study` rows."""
    lines = [
        "| n | m | trials | interpolated | mean ratio learned/minimal | SE | std |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.n} | {row.m} | {row.trials} | {row.interpolated} | {row.mean_ratio:.4f} | "
            f"{row.standard_error:.4f} | {row.std_ratio:.4f} |"
        )
    return "\n".join(lines)


def _int_range(text: str) -> list[int]:
    """``"4:24"`` or ``"4:40:2"`` (inclusive, optional step) or ``"4"``."""
    parts = [int(part) for part in text.split(":")]
    if len(parts) == 1:
        return parts
    if len(parts) > 3 or (len(parts) == 3 and parts[2] < 1):
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH or LOW:HIGH:STEP with STEP >= 1, got {text!r}")
    return list(range(parts[0], parts[1] + 1, parts[2] if len(parts) == 3 else 1))


def main(argv=None) -> int:
    """Print the Monte Carlo tables (markdown) with the command's parameters."""
    parser = argparse.ArgumentParser(prog="python -m theory.montecarlo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", type=int, nargs="*", default=[10, 100, 1000], help="sample sizes of the interpolation table (none: skip it)")
    parser.add_argument("--ms", type=_int_range, nargs="+", default=[list(range(4, 25))],
                        help="widths: integers or inclusive ranges LOW:HIGH[:STEP] (default 4:24)")
    parser.add_argument("--trials", type=int, default=400,
                        help="trials per (n, m) cell of the interpolation table (default 400; 0 skips the table)")
    parser.add_argument("--ratio-ns", type=int, nargs="*", default=[100, 1000, 10000],
                        help="sample sizes of the norm-ratio table, at width m = round(4 log2 n) "
                        "(default 100 1000 10000; none: skip it)")
    parser.add_argument("--ratio-trials", type=int, default=100,
                        help="trials per n of the norm-ratio table (default 100; 0 skips the table)")
    parser.add_argument("--ties", choices=TIE_RULES, default="joint",
                        help="tie rule of the norm-ratio table (docs/math/ties.rst): 'joint' (default, the "
                        "sigma->0 limit; one finite-sigma run per tied trial: ~0.1 s at n = 100, ~1.5 s at "
                        "n = 1000, growing with n) or 'index' (lowest neuron index first, milliseconds); the "
                        "interpolation table does not depend on it and uses 'index'")
    parser.add_argument("--seed", type=int, default=0,
                        help="root seed: trial t of a cell uses trial_seeds(seed, trials)[t], so any trial "
                        "can be re-run alone (default 0)")
    args = parser.parse_args(argv)
    ms = sorted({m for group in args.ms for m in group})
    import jumpprocess

    print(f"jumpprocess {jumpprocess.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}; "
          f"seed {args.seed}; labels sign-balanced, init balanced (Gaussian weights), gradient flow\n")
    if args.ns and args.trials > 0:
        start = time.perf_counter()
        rows = interpolation_study(args.ns, ms, args.trials, seed=args.seed)
        print(f"Interpolation frequency vs exact probability (docs/math/probability.rst), {args.trials} trials per cell "
              f"({time.perf_counter() - start:.1f} s):\n")
        print(interpolation_table(rows))
        outside = sum(abs(row.z_score) > 3 for row in rows)
        print(f"\n{len(rows) - outside} of {len(rows)} cells within 3 standard errors.\n")
    if args.ratio_ns and args.ratio_trials > 0:
        start = time.perf_counter()
        rows = norm_ratio_study(args.ratio_ns, args.ratio_trials, seed=args.seed, ties=args.ties)
        print(f"Norm ratio learned/minimal (docs/math/implicit-bias.rst), m = round(4 log2 n), {args.ratio_trials} trials, "
              f"ties={args.ties!r} "
              f"({time.perf_counter() - start:.1f} s):\n")
        print(norm_ratio_table(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
