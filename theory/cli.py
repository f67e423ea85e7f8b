"""``jumpprocess theory``: the interpolation probability, widths and norm ratio for (n, m).

Prints, for ``n`` samples (``n₊`` positive, ``n₋ = n − n₊`` negative labels) and width ``m``:
the exact probability of interpolation (docs/math/probability.rst; a rational when affordable, else the
log-space float), the failure probability, the union bound ``n (3/4)^m``, the minimal width
``m*(n, δ)``, the union-bound width ``⌈log(n/δ)/log(4/3)⌉``, the asymptotic ``2 log₂ n``,
and a Monte Carlo estimate of the expected norm ratio learned/minimal (docs/math/implicit-bias.rst) from the
engine. :func:`add_parser` registers the subcommand; :func:`run` executes it.
"""

from __future__ import annotations

import argparse
import json
import math
from decimal import Decimal, localcontext

from . import probability

__all__ = ["add_parser", "run", "theory_summary"]

#: Largest ``n`` for which the norm-ratio Monte Carlo runs unless ``--trials`` is given.
AUTO_MONTE_CARLO_MAX_N = 100_000


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``theory`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "theory",
        help="exact interpolation probability, minimal width and norm ratio for given n, m",
        description="For n samples and width m (symmetric sign-stable init; docs/math/probability.rst): the exact probability "
        "that the σ→0 limit interpolates, the minimal width m* for failure probability δ next to the "
        "union-bound and asymptotic widths, and a Monte Carlo estimate of the norm ratio (docs/math/implicit-bias.rst).",
    )
    from jumpprocess.cliargs import integer, real

    parser.add_argument("-n", "--n", type=integer(1), required=True, help="number of samples")
    parser.add_argument("-m", "--m", type=integer(0), required=True, help="width (number of neurons)")
    parser.add_argument("--n-pos", type=integer(0), default=None,
                        help="number of positive labels, at most n (default n // 2, as the sign-balanced labels)")
    parser.add_argument("--delta", type=real(0.0, 1.0, low_open=True, high_open=True), default=0.01,
                        help="target failure probability δ in (0, 1) (default 0.01)")
    parser.add_argument("--trials", type=integer(0), default=None,
                        help="Monte Carlo trials for the norm ratio (default 100 when n <= 1e5, else skipped; 0 skips)")
    parser.add_argument("--seed", type=integer(0), default=0, help="seed of the Monte Carlo (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)
    return parser


def _decimal(value) -> str:
    with localcontext() as context:
        context.prec = 20
        return str(Decimal(value.numerator) / Decimal(value.denominator))


def theory_summary(n: int, m: int, delta: float, *, n_pos=None, trials=None, seed: int = 0) -> dict:
    """Everything ``jumpprocess theory`` prints, as a dictionary.

    Raises
    ------
    ValueError
        ``n < 1``, ``m < 0``, ``n_pos`` outside ``[0, n]``, ``δ`` outside ``(0, 1)``,
        ``trials < 0``.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    n_pos = n // 2 if n_pos is None else n_pos
    if isinstance(n_pos, bool) or int(n_pos) != n_pos or not 0 <= n_pos <= n:
        raise ValueError(f"n_pos must be an integer in [0, n = {n}], got {n_pos!r}")
    n_pos, n_neg = int(n_pos), n - int(n_pos)
    summary = {"n": n, "n_pos": n_pos, "n_neg": n_neg, "m": m, "delta": delta}
    log_p = probability.log_interpolation_probability(m, n_pos, n_neg)
    try:
        exact = probability.interpolation_probability(m, n_pos, n_neg)
    except ValueError:
        exact = None
    if exact is not None:
        summary["probability"] = float(exact)
        summary["probability_digits"] = _decimal(exact)
        # Python refuses to print integers of more than 4300 digits: show the exact
        # rational only when it fits, else its size (the value itself is exact above).
        if max(exact.numerator.bit_length(), exact.denominator.bit_length()) < 14_000:
            summary["probability_exact"] = f"{exact.numerator}/{exact.denominator}"
        else:
            summary["probability_exact"] = (
                f"(a rational with a {exact.denominator.bit_length()}-bit denominator; "
                "theory.interpolation_probability returns it as a Fraction)"
            )
        summary["probability_method"] = "exact rational"
    else:
        summary["probability"] = math.exp(log_p)
        summary["probability_method"] = "log-space float64"
    summary["log_probability"] = log_p
    summary["failure_probability"] = probability.failure_probability(m, n_pos, n_neg)
    summary["log_failure_probability"] = probability.log_failure_probability(m, n_pos, n_neg) + 0.0  # no "-0"
    # n (3/4)^m bounds P(failure); above 1 it says nothing, and a probability is at most 1
    summary["union_bound"] = probability.union_bound_failure(m, n_pos + n_neg)
    summary["union_bound_failure"] = min(1.0, summary["union_bound"])
    summary["min_width"] = probability.min_width(n_pos, n_neg, delta)
    summary["union_bound_width"] = probability.union_bound_width(n_pos + n_neg, delta)
    summary["asymptotic_width"] = probability.asymptotic_width(n)
    if trials is None:
        trials = 100 if n <= AUTO_MONTE_CARLO_MAX_N else 0
    if isinstance(trials, bool) or int(trials) != trials or trials < 0:
        raise ValueError(f"trials must be a non-negative integer, got {trials!r}")
    summary["trials"] = int(trials)
    summary["norm_ratio"] = None
    if trials > 0 and m > 0:
        summary["norm_ratio"] = _norm_ratio(n_pos, n_neg, m, int(trials), seed)
    return summary


def _norm_ratio(n_pos: int, n_neg: int, m: int, trials: int, seed: int) -> dict:
    import numpy as np

    from jumpprocess import OrthogonalProblem, sample_initialization, simulate
    from jumpprocess.scale.batch import trial_seeds

    labels = np.concatenate((np.ones(n_pos), -np.ones(n_neg)))
    problem = OrthogonalProblem(labels)
    ratios = []
    for trial_seed in trial_seeds(seed, trials):
        traj = simulate(problem, sample_initialization(problem, m, "balanced", seed=int(trial_seed)))
        if traj.interpolates:
            ratios.append(traj.norm_ratio)
    ratios = np.asarray(ratios)
    return {
        "trials": trials,
        "interpolated": int(ratios.size),
        "mean": float(ratios.mean()) if ratios.size else None,
        "standard_error": float(ratios.std(ddof=1) / math.sqrt(ratios.size)) if ratios.size > 1 else None,
    }


def _text(summary: dict) -> str:
    n, m, delta = summary["n"], summary["m"], summary["delta"]
    lines = [
        f"n = {n} (n₊ = {summary['n_pos']}, n₋ = {summary['n_neg']}), m = {m}; symmetric sign-stable init",
        "",
    ]
    if summary["probability_method"] == "exact rational":
        lines.append(f"P(interpolation)          {summary['probability_digits']}  (exact rational, 20 digits shown)")
        if len(summary["probability_exact"]) <= 120:
            lines.append(f"  as a fraction           {summary['probability_exact']}")
    else:
        lines.append(f"P(interpolation)          {summary['probability']:.12g}  (log-space float64; "
                     f"ln P = {summary['log_probability']:.12g})")
    lines.append(f"P(failure) = 1 − P        {summary['failure_probability']:.6g}  "
                 f"(ln = {summary['log_failure_probability']:.6g})")
    bound = summary["union_bound"]
    note = "  (>= 1: vacuous, P(failure) <= 1 always)" if bound >= 1 else "  (a bound on P(failure))"
    lines.append(f"union bound n (3/4)^m     {bound:.6g}{note}")
    lines.append("")
    lines.append(f"minimal width m*(δ={delta:g})   {summary['min_width']}   (least m with P(failure) <= δ)")
    lines.append(f"union-bound width         {summary['union_bound_width']}   (⌈log(n/δ) / log(4/3)⌉)")
    lines.append(f"asymptotic width          {summary['asymptotic_width']:.2f}   (2 log₂ n)")
    lines.append("")
    ratio = summary["norm_ratio"]
    if ratio is None:
        why = "m = 0" if m == 0 else f"n > {AUTO_MONTE_CARLO_MAX_N}; pass --trials to run it" if summary["trials"] == 0 and n > AUTO_MONTE_CARLO_MAX_N else "--trials 0"
        lines.append(f"norm ratio                not estimated ({why})")
    elif ratio["mean"] is None:
        lines.append(f"norm ratio                no interpolating run in {ratio['trials']} trials")
    else:
        se = f" ± {ratio['standard_error']:.4f} (SE)" if ratio["standard_error"] is not None else ""
        lines.append(f"norm ratio                {ratio['mean']:.4f}{se}  learned/minimal squared norm, "
                     f"mean over {ratio['interpolated']} interpolating of {ratio['trials']} simulated runs")
    return "\n".join(lines)


def run(args) -> int:
    """Execute ``jumpprocess theory`` for parsed ``args``; returns the exit code.

    Raises
    ------
    ValueError
        Bad sizes or δ (the ``jumpprocess`` entry point turns it into exit code 2).
    """
    summary = theory_summary(args.n, args.m, args.delta, n_pos=args.n_pos, trials=args.trials, seed=args.seed)
    if args.json:  # strict JSON: a non-finite float (ln P = -inf when P = 0) is written as null
        print(json.dumps({key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                          for key, value in summary.items()}, allow_nan=False))
    else:
        print(_text(summary))
    return 0
