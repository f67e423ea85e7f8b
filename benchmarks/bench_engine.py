"""Benchmark of the limit engine (issue 2 targets), printing medians and ratios from one run.

Instance: n = 10^5, m = 64, exactly balanced ±1 labels, unit norms, balanced init sampled
beforehand (sampling is not timed). ``simulate`` rows use ``ties="index"`` (the race alone; the
joint escape at an overlapping tie is a finite-σ run, see bench_finite.py). Rows without a suffix are what ``simulate`` runs by default
(the compiled passes of :mod:`jumpprocess.limit.compiled` for m·n >= 2^20, loaded before timing);
"(numpy)" rows force the numpy path, for the ratio. The unit of work is one pass over the m × n pattern,
``good.astype(np.float32) @ w``, measured in the same run; every row is also given as a
multiple of it. Measurements are interleaved (round-robin) so that load on a shared
machine affects all rows alike.

    python benchmarks/bench_engine.py [--n 100000] [--m 64] [--repeats 41] [--seed 0] [--clock cpu]

``--clock cpu`` times by the process's CPU time (on a busy machine, other processes' turns are
left out); use it with ``OPENBLAS_NUM_THREADS=1`` so that the reference pass is one thread's work.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import jumpprocess
from jumpprocess import align, make_problem, sample_initialization, simulate
from jumpprocess.limit import compiled
from jumpprocess.limit.race import run_race

TARGETS = {"race": ("≤ 5 ms and ≤ 4 passes", 5.0, 4.0), "simulate": ("≤ 4 passes (issue 12)", None, 4.0)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or the process's CPU time (leaves out other processes' turns)")
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    problem = make_problem(args.n, "sign-balanced", seed=args.seed)
    init = sample_initialization(problem, args.m, "balanced", seed=args.seed + 1)
    alignment = align(problem, init)
    good = alignment.good_sets
    weights = np.ones(args.n, dtype=np.float32)
    signal_sq = problem.signal**2
    positive = problem.labels > 0

    def pattern():  # the sign-stable pattern alone, for context
        g = init.preactivations > 0
        g[init.output_weights > 0] &= positive
        g[init.output_weights < 0] &= ~positive
        return g

    def numpy_path(function):  # the engine with its compiled passes switched off
        def run():
            saved = compiled.COMPILED_FROM
            compiled.COMPILED_FROM = 1 << 62
            try:
                return function()
            finally:
                compiled.COMPILED_FROM = saved
        return run

    cases = {
        "one pass (reference)": lambda: good.astype(np.float32) @ weights,
        "sign-stable pattern": pattern,
        "alignment": lambda: align(problem, init),
        "alignment (numpy)": numpy_path(lambda: align(problem, init)),
        "race": lambda: run_race(good, signal_sq, args.n),
        "race (numpy)": lambda: run_race(good, signal_sq, args.n, compiled=False),
        "race (compiled)": lambda: run_race(good, signal_sq, args.n, compiled=True),
        "simulate": lambda: simulate(problem, init, ties="index"),
        "simulate (numpy)": numpy_path(lambda: simulate(problem, init, ties="index")),
    }
    for case in cases.values():  # warm-up
        case()
    samples = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            start = clock()
            case()
            samples[name].append(clock() - start)
    medians = {name: 1e3 * float(np.median(values)) for name, values in samples.items()}
    unit = medians["one pass (reference)"]

    traj = simulate(problem, init, ties="index")
    print(f"jumpprocess {jumpprocess.__version__} engine benchmark — numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} cores, float64 engine")
    print(f"instance: n = {args.n}, m = {args.m}, ±1 balanced labels, unit norms, balanced init, seed {args.seed}; "
          f"{traj.num_jumps} jumps, {traj.status}; {args.repeats} interleaved repeats; clock: {args.clock} "
          f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})\n")
    print(f"{'case':<24} {'median ms':>10} {'passes':>8}   target")
    for name, value in medians.items():
        target = TARGETS.get(name)
        verdict = ""
        if target:
            text, ms, passes = target
            ok = (ms is None or value <= ms) and (passes is None or value / unit <= passes)
            verdict = f"{text}: {'met' if ok else 'NOT met'}"
        print(f"{name:<24} {value:>10.3f} {value / unit:>8.2f}   {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
