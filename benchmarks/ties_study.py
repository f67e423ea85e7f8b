"""The norm-ratio study with overlapping ties resolved: the joint escape against "lowest index first".

Setting (the norm-ratio study of docs/math/implicit-bias.rst, as :func:`theory.montecarlo.norm_ratio_study`
runs it): ±1 labels, exactly balanced (``make_problem(n, "sign-balanced", seed=SEED)``), unit
norms, balanced initialization, gradient flow, width ``m = default_width(n) = round(4 log2 n)``.
Trial ``t`` of size ``n`` uses ``sample_initialization(problem, m, "balanced",
seed=trial_seeds(cell_seed, T)[t])`` with ``cell_seed = SeedSequence([SEED, n, m, 8]).generate_state(1)[0]``,
the seeds of ``norm_ratio_study([n], T, seed=SEED)``, so its means are reproduced and any trial
can be re-run alone.

Each trial is simulated twice, ``simulate(..., ties="index")`` (the race's convention: at an
overlapping tie the lowest neuron index takes the shared samples) and ``simulate(...,
ties="joint")`` (the σ→0 limit: the shared samples split as the tied neurons' joint escape
splits them, docs/math/ties.rst). The two agree on the fitted union, the jump times and
whether the run interpolates; they differ only on tied trials, in the split of shared samples,
hence in output weights and squared norm. Per ``n`` the script reports

* the fraction of trials with an overlapping, non-identical tie (``ambiguous`` under "index"),
  and the fraction of those that "joint" resolves (not ``ambiguous`` under "joint");
* the interpolation fraction under both rules (they must be equal; a difference is listed with
  the trial's n, m and seed and makes the exit status 1);
* the mean norm ratio learned/minimal over interpolating trials under both rules, with 95% CIs
  (mean ± 1.96 standard errors);
* the paired shift ``ratio_joint − ratio_index`` averaged over all interpolating trials and over
  the tied interpolating trials, with 95% CIs; and whether any untied trial changed (it must not);
* the median wall time per tied trial of ``ties="joint"`` (the finite-σ engine at ln σ = −10⁶).

A trial on which ``ties="joint"`` raises is listed with its n, m and seed (a bug to report),
left out of the comparison, and makes the exit status 1; the run goes on.

It prints a markdown table and writes the per-trial numbers to ``OUTPUT/ties_study.json``
(``out/`` is git-ignored), rewritten after each ``n`` so a run cut short keeps what it did.

Usage::

    python benchmarks/ties_study.py            # n = 30, 100, 300, 1000 with 1600/1200/600/300 trials (~12 min)
    python benchmarks/ties_study.py --quick    # a smoke test (seconds)
    python benchmarks/ties_study.py --ns 30 100 --trials 200 100 --seed 0 --output out/ties_study
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

FULL = {30: 1600, 100: 1200, 300: 600, 1000: 300}
QUICK = {12: 30, 30: 20}


def _git_commit() -> str:
    """The checkout's commit, with "+dirty" when jumpprocess/ has uncommitted changes ("unknown" outside git)."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "../jumpprocess"], cwd=here, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cell_seed(seed: int, n: int, m: int) -> int:
    """The root seed of size ``n`` in :func:`theory.montecarlo.norm_ratio_study`."""
    return int(np.random.SeedSequence([seed, n, m, 8]).generate_state(1)[0])


def run_size(n: int, trials: int, seed: int, progress=None) -> dict:
    """Both tie rules on the ``trials`` trials of size ``n``: a dict with the per-trial records."""
    from jumpprocess import make_problem, sample_initialization, simulate
    from jumpprocess.scale.batch import trial_seeds
    from theory.montecarlo import default_width

    m = default_width(n)
    problem = make_problem(n, "sign-balanced", seed=seed)
    root = cell_seed(seed, n, m)
    records = []
    for t, trial_seed in enumerate(trial_seeds(root, trials)):
        init = sample_initialization(problem, m, "balanced", seed=int(trial_seed))
        clock = time.perf_counter()
        index = simulate(problem, init, ties="index")
        between = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # an unresolved tie says why (RuntimeWarning)
            warnings.simplefilter("always")
            try:
                joint, error = simulate(problem, init, ties="joint"), None
            except RuntimeError as failure:  # reported with the instance, not hidden (see the exit status)
                joint, error = None, f"{type(failure).__name__}: {failure}"
        done = time.perf_counter()
        record = dict(
            trial=t, seed=int(trial_seed), tied=bool(index.ambiguous), identical_ties=bool(index.identical_ties),
            interpolates_index=bool(index.interpolates), norm_ratio_index=_number(index.norm_ratio),
            squared_norm_index=float(index.squared_norm), num_jumps=index.num_jumps,
            seconds_index=between - clock, seconds_joint=done - between, joint_error=error,
            joint_warning="; ".join(str(w.message) for w in caught) or None,
        )
        if joint is not None:
            record.update(
                joint_ambiguous=bool(joint.ambiguous), joint_jumps=len(joint.joint),
                interpolates_joint=bool(joint.interpolates), norm_ratio_joint=_number(joint.norm_ratio),
                squared_norm_joint=float(joint.squared_norm),
            )
        records.append(record)
        if progress is not None:
            progress(n, t + 1, trials)
    return dict(n=n, m=m, trials=trials, cell_seed=root, records=records)


def _number(value: float):
    """JSON has no NaN: a non-interpolating run's ratio is stored as null."""
    return None if math.isnan(value) else float(value)


def _mean_ci(values) -> tuple:
    """``(mean, 95% half-width)`` with the normal quantile; half-width NaN below two values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1:
        return float(values[0]), math.nan
    return float(values.mean()), 1.96 * float(values.std(ddof=1)) / math.sqrt(values.size)


def analyse(size: dict) -> dict:
    """The per-n statistics of one :func:`run_size` result.

    Trials where ``ties="joint"`` raised are counted and listed (``joint_failed``) and left
    out of every column except "trials", "overlapping tie" and ``ratio_index_all`` (the index
    mean over all interpolating trials), so that both rules are compared on the same trials.
    """
    n, m, every = size["n"], size["m"], size["records"]
    failed = [dict(n=n, m=m, trial=r["trial"], seed=r["seed"], error=r["joint_error"]) for r in every if r["joint_error"]]
    records = [r for r in every if not r["joint_error"]]
    tied = np.array([r["tied"] for r in records], dtype=bool)
    resolved = np.array([not r["joint_ambiguous"] for r in records], dtype=bool)
    interp_index = np.array([r["interpolates_index"] for r in records], dtype=bool)
    interp_joint = np.array([r["interpolates_joint"] for r in records], dtype=bool)
    both = interp_index & interp_joint
    ratio_index = np.array([np.nan if r["norm_ratio_index"] is None else r["norm_ratio_index"] for r in records])
    ratio_joint = np.array([np.nan if r["norm_ratio_joint"] is None else r["norm_ratio_joint"] for r in records])
    all_index = np.array([np.nan if r["norm_ratio_index"] is None else r["norm_ratio_index"] for r in every])
    shift = ratio_joint - ratio_index
    seconds = np.array([r["seconds_joint"] for r in records])
    return dict(
        n=n, m=m, trials=len(every), joint_failed=failed, compared=len(records),
        tied=float(np.mean([r["tied"] for r in every])), tied_count=int(sum(r["tied"] for r in every)),
        resolved=float(resolved[tied].mean()) if tied.any() else math.nan,
        unresolved=[dict(n=n, m=m, trial=r["trial"], seed=r["seed"], warning=r.get("joint_warning"))
                    for r, k, ok in zip(records, tied, resolved) if k and not ok],
        interpolating_index=float(interp_index.mean()), interpolating_joint=float(interp_joint.mean()),
        interpolation_mismatch=[dict(n=n, m=m, trial=r["trial"], seed=r["seed"])
                                for r, a, b in zip(records, interp_index, interp_joint) if a != b],
        ratio_index_all=_mean_ci(all_index[~np.isnan(all_index)]),
        ratio_index=_mean_ci(ratio_index[interp_index]), ratio_joint=_mean_ci(ratio_joint[interp_joint]),
        shift_all=_mean_ci(shift[both]), shift_tied=_mean_ci(shift[both & tied]),
        tied_interpolating=int((both & tied).sum()),
        shift_resolved=_mean_ci(shift[both & tied & resolved]), resolved_interpolating=int((both & tied & resolved).sum()),
        shift_lowered=float(np.mean(shift[both & tied & resolved] < 0)) if (both & tied & resolved).any() else math.nan,
        shift_tied_max=float(np.max(np.abs(shift[both & tied]))) if (both & tied).any() else math.nan,
        untied_changed=int(np.sum(both & ~tied & (shift != 0.0))),
        seconds_joint_tied=float(np.median(seconds[tied])) if tied.any() else math.nan,
        seconds_index=float(np.median([r["seconds_index"] for r in every])),
    )


def _ci(pair, digits=4) -> str:
    mean, half = pair
    if math.isnan(mean):
        return "—"
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def table(rows) -> str:
    """Markdown table of :func:`analyse` rows."""
    lines = [
        "| n | m | trials (joint failed) | overlapping tie | resolved by joint | interpolating (index = joint) | "
        "ratio, index (95% CI) | ratio, joint (95% CI) | shift joint − index, all interp. | "
        "shift, tied interp. (count) | shift, resolved tied interp. (count) | lowered by joint | max abs shift | "
        "median s / tied trial (joint) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        interp = (f"{r['interpolating_index']:.4f}" if r["interpolating_index"] == r["interpolating_joint"]
                  else f"**{r['interpolating_index']:.4f} ≠ {r['interpolating_joint']:.4f}**")
        lines.append(
            f"| {r['n']} | {r['m']} | {r['trials']} ({len(r['joint_failed'])}) | {r['tied']:.3f} | {r['resolved']:.3f} | {interp} | "
            f"{_ci(r['ratio_index'])} | {_ci(r['ratio_joint'])} | {_ci(r['shift_all'], 5)} | "
            f"{_ci(r['shift_tied'], 5)} ({r['tied_interpolating']}) | {_ci(r['shift_resolved'], 5)} "
            f"({r['resolved_interpolating']}) | {r['shift_lowered']:.3f} | {r['shift_tied_max']:.4f} | "
            f"{r['seconds_joint_tied']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run both tie rules, print the table, write the JSON; exit status 1 on a broken invariant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 12 and 30 with 30 and 20 trials (a smoke test)")
    parser.add_argument("--ns", type=int, nargs="+", help="sample sizes (default 30 100 300 1000)")
    parser.add_argument("--trials", type=int, nargs="+",
                        help="trials per n, one per --ns value or one for all (default 1600 1200 600 300)")
    parser.add_argument("--seed", type=int, default=0,
                        help="root seed of the problems and trials, as in theory.montecarlo (default 0)")
    parser.add_argument("--output", default="out/ties_study", help="folder of ties_study.json (default out/ties_study)")
    parser.add_argument("--analyse", metavar="JSON",
                        help="print the table of a saved ties_study.json instead of running (no simulation)")
    args = parser.parse_args(argv)
    if args.analyse:
        with open(args.analyse) as handle:
            saved = json.load(handle)
        provenance, sizes = saved["provenance"], saved["sizes"]
        return report(provenance, sizes, [analyse(size) for size in sizes], args.analyse)
    plan = dict(QUICK if args.quick else FULL)
    if args.ns:
        counts = args.trials or [plan.get(n, 100) for n in args.ns]
        if len(counts) == 1:
            counts = counts * len(args.ns)
        if len(counts) != len(args.ns):
            parser.error("--trials takes one value or one per --ns value")
        plan = dict(zip(args.ns, counts))
    elif args.trials:
        parser.error("--trials needs --ns")
    if any(n < 2 or t < 1 for n, t in plan.items()):
        parser.error("every n must be >= 2 and every trial count >= 1")

    import jumpprocess

    provenance = dict(
        jumpprocess=jumpprocess.__version__, commit=_git_commit(), numpy=np.__version__, python=platform.python_version(),
        machine=platform.machine(), cores=os.cpu_count(), seed=args.seed, plan={str(n): t for n, t in plan.items()},
        setting="sign-balanced ±1 labels, unit norms, balanced init, gradient flow, m = round(4 log2 n)",
    )
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "ties_study.json")

    def progress(n, done, total):
        if done % 10 == 0 or done == total:
            print(f"  n = {n}: {done}/{total} trials ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    start = time.perf_counter()
    sizes, rows = [], []
    for n, trials in plan.items():
        begun = time.perf_counter()
        size = run_size(n, trials, args.seed, progress)
        size["seconds"] = time.perf_counter() - begun
        sizes.append(size)
        rows.append(analyse(size))
        with open(path, "w") as handle:
            json.dump(dict(provenance=provenance, sizes=sizes, summary=rows), handle, indent=1)
    provenance["seconds"] = time.perf_counter() - start
    with open(path, "w") as handle:
        json.dump(dict(provenance=provenance, sizes=sizes, summary=rows), handle, indent=1)
    return report(provenance, sizes, rows, path)


def report(provenance: dict, sizes: list, rows: list, path: str) -> int:
    """Print the table and the broken invariants; the exit status (1 on a broken invariant)."""
    commit = provenance.get("commit", "unknown")
    commit = commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    per_n = ", ".join(f"{size['n']}: {size['seconds']:.0f} s" for size in sizes)
    elapsed = provenance.get("seconds", sum(size["seconds"] for size in sizes))
    print(f"\n# Norm ratio with overlapping ties: ties='joint' against ties='index' (docs/math/ties.rst)")
    print(f"{provenance['setting']}; jumpprocess {provenance['jumpprocess']} ({commit}), numpy {provenance['numpy']}, "
          f"python {provenance['python']}, float64, seed {provenance['seed']}; wall time {elapsed:.0f} s "
          f"(per n: {per_n})\n")
    print(table(rows))
    print(f"\nratio = squared norm / minimal squared norm over interpolating trials; CI = mean ± 1.96 SE; "
          f"shift = paired ratio_joint − ratio_index; 'resolved' = not ambiguous under 'joint' (an unresolved tie "
          f"keeps the index convention, shift 0); 'lowered' = fraction of resolved tied trials with shift < 0. "
          f"Per-trial numbers: {path}")
    failures = 0
    for r in rows:
        if r["joint_failed"]:
            failures += 1
            print(f"BUG: n = {r['n']}: ties='joint' raised on {len(r['joint_failed'])} trials (left out of the comparison; "
                  f"index mean over all trials {_ci(r['ratio_index_all'])}):")
            for failure in r["joint_failed"]:
                print(f"  n = {failure['n']}, m = {failure['m']}, trial {failure['trial']}, init seed {failure['seed']}: "
                      f"{failure['error']}")
        if r["interpolation_mismatch"]:
            failures += 1
            print(f"BUG: interpolation differs between the tie rules at {r['interpolation_mismatch']}")
        if r["untied_changed"]:
            failures += 1
            print(f"BUG: n = {r['n']}: {r['untied_changed']} trials without an overlapping tie changed their ratio")
        for case in r["unresolved"]:
            print(f"note: ties='joint' left a tie ambiguous at n = {case['n']}, m = {case['m']}, trial {case['trial']}, "
                  f"init seed {case['seed']}" + (f": {case['warning']}" if case.get("warning") else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
