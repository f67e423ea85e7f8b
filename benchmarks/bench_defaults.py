"""Fast by default (issue 12): the three targets, measured in one run with medians and ratios.

Run it in a core install (``pip install -e .``: numba is a core dependency, no extras):

1. ``simulate_many`` at n = 1000, m = 40 (±1 balanced labels, balanced init, gradient
   flow, default sampling): trajectories per second, compiled kernels (the default) and the
   numpy reference path (``backend="numpy"``), after a warm-up call. Target ≥ 5,000/s.
2. ``simulate`` at n = 10⁵, m = 64 in *passes of the pattern*: multiples of one pass
   ``good.astype(np.float32) @ w`` over the m × n good sets, timed interleaved in the same
   run (as ``bench_engine.py``); the default (compiled, for m·n >= 2^20) and the numpy path.
   Target ≤ 4 passes (the numpy path: 6.6 on a quiet machine).
3. The first gradient-descent ``simulate`` of a fresh process (n = 1000, m = 40, the
   instance of ``jumpprocess simulate``), after ``import jumpprocess``: ``--fresh`` new
   processes per step size; the median, and the numba import and kernel loads it paid
   (``jumpprocess.limit.compiled.one_time_costs``). Target ≤ 0.5 s (η = 0.5; the others
   for context).

    python benchmarks/bench_defaults.py [--repeats 21] [--fresh 5] [--trials 20000] [--clock cpu]

Asserts nothing: the machine may be shared (the load average is printed). ``--clock cpu`` times
with the process's CPU time (``time.process_time``, all its threads) instead of wall time: on a
busy machine it leaves out the time other processes hold the cores. Run it with
``OPENBLAS_NUM_THREADS=1`` then, so that the reference pass is one thread's work like the engine's
(the CPU time of several BLAS threads adds up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

_FIRST_GD = """
import json, sys, time
start = time.perf_counter()
import jumpprocess
from jumpprocess import make_instance, simulate
from jumpprocess.limit.compiled import one_time_costs
imported = time.perf_counter() - start
problem, init = make_instance(1000, 40, seed=0)
start = time.perf_counter()
simulate(problem, init, step_size=float(sys.argv[1]))
wall = time.perf_counter() - start
print(json.dumps({"import": imported, "simulate": wall, "costs": one_time_costs(), "numba_loaded": "numba" in sys.modules}))
"""


def _median(values) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


CLOCK = time.perf_counter


def batch_throughput(trials: int, repeats: int) -> dict:
    from jumpprocess import make_problem, simulate_many

    problem = make_problem(1000, "sign-balanced", seed=0)
    out = {}
    for backend, count in (("auto", trials), ("numpy", max(200, trials // 50))):
        simulate_many(problem, 40, min(count, 256), seed=1, backend=backend)  # warm-up (kernel load)
        times = []
        for repeat in range(max(1, repeats // 4)):
            start = CLOCK()
            simulate_many(problem, 40, count, seed=2 + repeat, backend=backend)
            times.append(CLOCK() - start)
        out[backend] = count / _median(times)
    return out


def simulate_passes(repeats: int) -> dict:
    from jumpprocess import align, make_problem, sample_initialization, simulate
    from jumpprocess.limit import compiled

    problem = make_problem(100_000, "sign-balanced", seed=0)
    init = sample_initialization(problem, 64, "balanced", seed=1)
    good = align(problem, init).good_sets
    weights = np.ones(problem.n, dtype=np.float32)

    def numpy_path():
        saved = compiled.COMPILED_FROM
        compiled.COMPILED_FROM = 1 << 62
        try:
            simulate(problem, init, ties="index")
        finally:
            compiled.COMPILED_FROM = saved

    cases = {"one pass (reference)": lambda: good.astype(np.float32) @ weights,
             "simulate (default: compiled)": lambda: simulate(problem, init, ties="index"),
             "simulate (numpy path)": numpy_path}
    for case in cases.values():
        case()
    samples = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            start = CLOCK()
            case()
            samples[name].append(CLOCK() - start)
    return {name: 1e3 * _median(values) for name, values in samples.items()}


def first_gd(fresh: int, steps) -> dict:
    out = {}
    for eta in steps:
        runs = []
        for _ in range(fresh):
            done = subprocess.run([sys.executable, "-c", _FIRST_GD, str(eta)], capture_output=True, text=True,
                                  check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        out[eta] = runs
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats of the timed cases (default 21)")
    parser.add_argument("--fresh", type=int, default=5, help="fresh processes per step size (default 5)")
    parser.add_argument("--trials", type=int, default=20_000, help="trials per simulate_many call (default 20000)")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.5, 1.0, 0.1, 0.01],
                        help="step sizes of the first-GD measurement (default 0.5 1 0.1 0.01; the target is 0.5)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time 1. and 2. by wall time (default) or by the process's CPU time")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import numba

    import jumpprocess

    extras = [name for name in ("torch", "matplotlib", "dask") if _installed(name)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jumpprocess {jumpprocess.__version__} | numpy {np.__version__} | numba {numba.__version__} | "
          f"python {platform.python_version()} | {os.cpu_count()} cores | load average {load:.2f} | "
          f"extras installed: {', '.join(extras) or 'none (core install)'} | clock: {args.clock} | "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n")

    rates = batch_throughput(args.trials, args.repeats)
    print("1. simulate_many, n = 1000, m = 40, ±1 balanced labels, balanced init, gradient flow")
    print(f"   compiled (default): {rates['auto']:>10,.0f} trajectories/s   target ≥ 5,000/s: "
          f"{'met' if rates['auto'] >= 5000 else 'NOT met'}")
    print(f"   numpy reference:    {rates['numpy']:>10,.0f} trajectories/s   ratio {rates['auto'] / rates['numpy']:.1f}x\n")

    medians = simulate_passes(args.repeats)
    unit = medians["one pass (reference)"]
    print(f"2. simulate, n = 100000, m = 64 (±1 balanced labels, balanced init, flow); {args.repeats} interleaved repeats")
    for name, value in medians.items():
        verdict = ""
        if name.startswith("simulate (default"):
            verdict = f"   target ≤ 4 passes: {'met' if value / unit <= 4 else 'NOT met'}"
        print(f"   {name:<30} {value:>8.3f} ms {value / unit:>6.2f} passes{verdict}")
    print()

    runs = first_gd(args.fresh, args.steps)
    print(f"3. first gradient-descent simulate of a fresh process (n = 1000, m = 40, make_instance seed 0), "
          f"{args.fresh} processes each")
    for eta, results in runs.items():
        first = _median([r["simulate"] for r in results])
        imported = _median([r["import"] for r in results])
        loaded = sum(r["numba_loaded"] for r in results)
        costs = {}
        for r in results:
            for what, seconds in r["costs"]:
                costs.setdefault(what, []).append(seconds)
        paid = ", ".join(f"{what} {_median(v):.2f} s" for what, v in costs.items()) or "no numba import or kernel load"
        verdict = f"   target ≤ 0.5 s: {'met' if first <= 0.5 else 'NOT met'}" if eta == 0.5 else ""
        print(f"   η = {eta:<5g} first simulate {first:7.3f} s (import jumpprocess {imported:.2f} s; numba loaded in "
              f"{loaded}/{len(results)}: {paid}){verdict}")
    return 0


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    raise SystemExit(main())
