"""The implicit-bias norm ratio as n grows: does it tend to 1 + √2? (docs/math/implicit-bias.rst)

Setting (the conjecture of docs/math/implicit-bias.rst): ±1 labels, exactly balanced (``sign-balanced``), unit norms,
balanced initialization, gradient flow, width ``m = round(4 log2 n)``. For each trial the
ratio is ``2 Σ_k ||y_{F_k}|| / (2(||y₊|| + ||y₋||))`` (learned over minimal squared norm).
The study runs as a resumable sweep (``jumpprocess.scale.sweep``) into ``out/norm_ratio/`` and
prints a markdown table (n, m, trials, interpolating fraction, mean ratio over the
interpolating trials with its 95% CI, std, fraction with an overlapping tie, fraction
whose learned function is undetermined by the race (docs/math/ties.rst), mean over the determined
trials) followed by fits of

* ``ratio(n) = r∞ − c n^{−α}`` (free α, weighted least squares),
* ``ratio(n) = r∞ − c n^{−1/2}`` (α fixed at the value a "fit half of what remains"
  heuristic predicts, see below),
* ``ratio(n) = r∞ − c / ln n`` (a slow alternative),

each with a 95% interval for ``r∞`` and its χ² per degree of freedom, and saves
``out/norm_ratio/norm_ratio_study.png``.

Heuristic behind 1 + √2: if each activation of a sign fits a fraction ``f`` of the
remaining samples of that sign, ``Σ_k sqrt|F_k| = sqrt(n₊) sqrt(f) / (1 − sqrt(1 − f))``,
so the ratio is ``sqrt(f) / (1 − sqrt(1 − f))``, which is ``1 + √2`` at ``f = 1/2``.

Usage: ``python benchmarks/norm_ratio_study.py [--quick] [--output DIR]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np

TRIALS = {100: 20000, 1000: 20000, 10_000: 5000, 100_000: 1000, 1_000_000: 200, 10_000_000: 60}
QUICK = {100: 2000, 1000: 1000, 10_000: 200}
TARGET = 1 + math.sqrt(2)


def analyse(records):
    """Per-n statistics (dicts) of the study records."""
    from jumpprocess.scale.sweep import _grouped

    rows = []
    for (n, m, labels, init, step, sampling), entry in sorted(_grouped(records).items()):
        ok = entry["interpolates"] > 0
        ratio = entry["norm_ratio"][ok]
        clean = entry["norm_ratio"][ok & (entry["function_determined"] > 0)]
        se = ratio.std(ddof=1) / math.sqrt(ratio.size)
        rows.append(dict(
            n=n, m=m, trials=entry["interpolates"].size, interpolating=ok.mean(), mean=ratio.mean(), se=se,
            std=ratio.std(ddof=1), ambiguous=((entry["ambiguous"] > 0) | (entry["identical_ties"] > 0)).mean(),
            undetermined=(entry["function_determined"] == 0).mean(), clean_mean=clean.mean(),
            clean_se=clean.std(ddof=1) / math.sqrt(clean.size), jumps=entry["num_jumps"].mean(),
            time=entry["final_time"][ok].mean(),
        ))
    return rows


MODELS = {
    "free": ("r∞ − c n^(−α)", lambda x, r, c, a: r - c * x ** (-a), (2.4, 5.0, 0.5), ("c", "α")),
    "sqrt2": ("r∞ − c n^(−1/2) − c₂ n^(−1)", lambda x, r, c, c2: r - c * x ** -0.5 - c2 / x, (2.4, 5.0, 0.0), ("c", "c₂")),
    "sqrt": ("r∞ − c n^(−1/2)", lambda x, r, c: r - c * x ** -0.5, (2.4, 5.0), ("c",)),
    "log": ("r∞ − c / ln n", lambda x, r, c: r - c / np.log(x), (3.0, 5.0), ("c",)),
}


def fit(rows, model, n_min=0):
    """Weighted least squares of the mean ratio over ``n >= n_min``.

    Returns ``(r∞, 95% half-width, parameters, χ²/dof, points)``. The half-width is from
    the covariance scaled by ``max(1, χ²/dof)`` (a model that misfits gets a wider
    interval, not a false precise one).
    """
    from scipy.optimize import curve_fit

    rows = [r for r in rows if r["n"] >= n_min]
    _, f, p0, _ = MODELS[model]
    n = np.array([r["n"] for r in rows], dtype=float)
    y = np.array([r["mean"] for r in rows])
    s = np.array([r["se"] for r in rows])
    params, cov = curve_fit(f, n, y, p0=p0, sigma=s, absolute_sigma=True, maxfev=20000)
    dof = n.size - len(params)
    chi2 = float(np.sum(((f(n, *params) - y) / s) ** 2)) / dof if dof > 0 else float("nan")
    scale = max(1.0, chi2) if dof > 0 else 1.0
    return params[0], 1.96 * math.sqrt(cov[0, 0] * scale), params, chi2, n.size


def aitken(rows, draws=20000, seed=0):
    """Aitken Δ² extrapolation over the last three decades, with a parametric bootstrap.

    For ``x_k = r∞ − c q^k`` (a power-law correction, ``q = 10^(−α)``) the limit is exactly
    ``x₃ − (x₃ − x₂)² / ((x₃ − x₂) − (x₂ − x₁))``. The means are resampled from their
    normal sampling distributions to get a 95% interval. Returns (r∞, low, high, q).
    """
    x = np.array([r["mean"] for r in rows[-3:]])
    se = np.array([r["se"] for r in rows[-3:]])

    def extrapolate(v):
        d1, d2 = v[..., 1] - v[..., 0], v[..., 2] - v[..., 1]
        return v[..., 2] - d2 * d2 / (d2 - d1), d2 / d1

    rng = np.random.default_rng(seed)
    samples, _ = extrapolate(x + se * rng.standard_normal((draws, 3)))
    value, q = extrapolate(x)
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(value), float(low), float(high), float(q)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n and few trials (a smoke test)")
    parser.add_argument("--output", default="out/norm_ratio")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    import numba

    from jumpprocess import __version__
    from jumpprocess.scale.sweep import auto_width, run_sweep, sweep_tasks

    plan = QUICK if args.quick else TRIALS
    tasks = []
    for n, trials in plan.items():
        chunk = 2000 if n <= 10_000 else (200 if n <= 100_000 else (20 if n <= 1_000_000 else 4))
        tasks += sweep_tasks([n], ["auto"], ["sign-balanced"], ["balanced"], trials=trials, chunk=chunk, seed=args.seed)
    start = time.perf_counter()
    records = run_sweep(tasks, args.output, workers=1, progress=True)
    elapsed = time.perf_counter() - start
    wanted = {t.key for t in tasks}
    rows = analyse([r for r in records if r["key"] in wanted])

    print(f"\n# Norm ratio study (docs/math/implicit-bias.rst): ±1 balanced labels, unit norms, balanced init, gradient flow, m = round(4 log2 n)")
    print(f"jumpprocess {__version__}, numpy {np.__version__}, numba {numba.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} cores, float64, seed {args.seed}, sampling = direct sign-stable law; "
          f"wall time this run {elapsed:.1f} s (resumed tasks are not re-run)\n")
    print("| n | m | trials | P(interp.) | mean ratio | 95% CI | std | overlapping tie | function undetermined | "
          "mean over determined (95% CI) | jumps | τ_final |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['m']} | {r['trials']} | {r['interpolating']:.4f} | {r['mean']:.4f} | "
              f"[{r['mean'] - 1.96 * r['se']:.4f}, {r['mean'] + 1.96 * r['se']:.4f}] | {r['std']:.4f} | {r['ambiguous']:.3f} | {r['undetermined']:.3f} | "
              f"{r['clean_mean']:.4f} ± {1.96 * r['clean_se']:.4f} | {r['jumps']:.2f} | {r['time']:.3f} |")
    print(f"\n1 + √2 = {TARGET:.4f}")
    if len(rows) >= 4:
        ratios = [(rows[k + 1]["mean"] - rows[k]["mean"]) / (rows[k]["mean"] - rows[k - 1]["mean"]) for k in range(1, len(rows) - 1)]
        print("\nsuccessive-difference ratios (x_{k+1} − x_k)/(x_k − x_{k−1}) per decade: "
              + ", ".join(f"{q:.3f}" for q in ratios) + f"  (10^(−1/2) = {10 ** -0.5:.3f})")
        value, low, high, q = aitken(rows)
        print(f"Aitken Δ² extrapolation over the last three decades: r∞ = {value:.4f}, 95% CI [{low:.4f}, {high:.4f}] "
              f"(q = {q:.3f}, i.e. α = {-math.log10(q):.3f})")
        print("\n| model | n used | r∞ | 95% CI of r∞ | other parameters | χ²/dof |")
        print("|---|---|---|---|---|---|")
        for model, n_min in (("free", 0), ("free", 10_000), ("sqrt2", 1000), ("sqrt", 100_000), ("log", 0), ("log", 10_000)):
            label, _, _, names = MODELS[model]
            try:
                r_inf, half, params, chi2, points = fit(rows, model, n_min)
            except (RuntimeError, ValueError) as error:  # a fit that does not converge is reported, not hidden
                print(f"| {label} | n ≥ {n_min:,} | fit failed: {error} | | | |")
                continue
            others = ", ".join(f"{name} = {value:.3g}" for name, value in zip(names, params[1:]))
            print(f"| {label} | n ≥ {n_min:,} ({points} points) | {r_inf:.4f} | [{r_inf - half:.4f}, {r_inf + half:.4f}] | "
                  f"{others} | {chi2:.2f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, gap) = plt.subplots(1, 2, figsize=(11, 4))
        ns = np.array([r["n"] for r in rows], dtype=float)
        ax.errorbar(ns, [r["mean"] for r in rows], yerr=[1.96 * r["se"] for r in rows], fmt="o", capsize=3,
                    label="mean ratio (interpolating trials), 95% CI")
        ax.errorbar(ns * 1.08, [r["clean_mean"] for r in rows], yerr=[1.96 * r["clean_se"] for r in rows], fmt="s",
                    ms=3, capsize=2, alpha=0.7, label="trials whose function is determined (no non-identical overlapping tie)")
        if len(rows) >= 4:
            grid = np.logspace(3, np.log10(ns.max()) + 0.5, 100)
            r_inf, _, params, _, _ = fit(rows, "sqrt2", 1000)
            ax.plot(grid, MODELS["sqrt2"][1](grid, *params), "-", lw=1,
                    label=f"fit r∞ − c n^-1/2 − c₂ n^-1 (n ≥ 10³): r∞ = {r_inf:.4f}")
        ax.axhline(TARGET, color="k", ls="--", lw=0.8, label="1 + √2")
        ax.set_xscale("log")
        ax.set_xlabel("n  (m = round(4 log2 n))")
        ax.set_ylabel("learned / minimal squared norm")
        ax.legend(fontsize=7)
        means = np.array([r["mean"] for r in rows])
        half = np.array([1.96 * r["se"] for r in rows])
        gap.errorbar(ns, TARGET - means, yerr=half, fmt="o", capsize=3, label="1 + √2 − mean ratio (95% CI)")
        anchor = TARGET - means[-1]
        gap.plot(ns, anchor * (ns / ns[-1]) ** -0.5, "k:", lw=1, label="slope −1/2 (through the last point)")
        gap.set_xscale("log")
        gap.set_yscale("log")
        gap.set_xlabel("n")
        gap.set_ylabel("distance to 1 + √2")
        gap.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(args.output, "norm_ratio_study.png")
        fig.savefig(path, dpi=130)
        print(f"\nfigure: {path}")
    except ImportError:
        print("matplotlib not installed: no figure (pip install 'jumpprocess[plot]')", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
