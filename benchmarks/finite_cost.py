"""Where a hybrid finite-σ run spends its time: steps and coordinate updates per σ (one run).

    python benchmarks/finite_cost.py              # the bench_finite instance at σ = 1e-8 and 1e-300 (~30 s)
    python benchmarks/finite_cost.py --quick      # n = 200, m = 16

docs/math/finite-sigma.rst, "What a run costs". The engine's gradient-descent window
(``vector_field.descent_window``) is watched: each call's starting state is kept and its
steps counted. The integrated stretch after the first plateau is then replayed here in numpy,
step by step with the same map (small neurons linear and out of the residual, promoted at δ),
counting per step

* the alive coordinates of every neuron (what the engine's window updates),
* those of the large neurons, and of the large ones above 1e-3 of the label scale,
* for small neurons, only the coordinates whose residual has changed at all since the
  window began (what an exact split of the small neurons into moving and constant
  coordinates would have to update),

and it checks that the replay ends with as many neurons above δ as the engine. The watched
run steps every coordinate (``Tolerances(quiet=0)``); the last columns are what the default
engine, which lumps quiet samples (``quiet_descent``), actually did in the same run: the
coordinate updates it made one by one, the neuron steps it took by one lumped scalar, and
its intervals (redone ones in brackets).
"""

import argparse
import math

import numpy as np

from jumpprocess import OrthogonalProblem, make_problem, orthonormal_inputs, sample_initialization, simulate_finite
from jumpprocess.finite import quiet_descent, vector_field
from jumpprocess.finite.engine import Tolerances, warm_up


def watch(problem, init, log_sigma, eta):
    """Run the hybrid engine; return the state at each window call and the steps it took."""
    calls = []
    original = vector_field.descent_window

    def recorded(X, alive, large, log_scale, *args):
        state = (X.copy(), alive.copy(), large.copy(), log_scale.copy())
        steps, code = original(X, alive, large, log_scale, *args)
        calls.append((state, int(steps), int(code), int(large.sum())))
        return steps, code

    vector_field.descent_window = recorded
    try:
        run = simulate_finite(problem, init, log_sigma=log_sigma, step_size=eta, tolerances=Tolerances(quiet=0.0))
    finally:
        vector_field.descent_window = original
    return run, calls


def quiet_work(problem, init, log_sigma, eta):
    """What the default engine (quiet samples lumped) did: its counts (quiet_descent_window)."""
    seen = []
    original = quiet_descent.quiet_descent_window

    def recorded(*args):
        seen.append(args[-1])
        return original(*args)

    quiet_descent.quiet_descent_window = recorded
    try:
        simulate_finite(problem, init, log_sigma=log_sigma, step_size=eta)
    finally:
        quiet_descent.quiet_descent_window = original
    return seen[-1].copy() if seen else [0, 0, 0, 0]


def replay(problem, state, steps, eta, log_delta):
    """The descent map from ``state`` for ``steps`` steps, with work counters."""
    X, alive, large, log_scale = (array.copy() for array in state)
    y, s = problem.labels, problem.norms
    n = y.shape[0]

    def residual():
        return y - s * np.sum((X[:, :1] * X[:, 1:] * alive)[large], axis=0)

    r = residual()
    start = r.copy()
    changed = np.zeros(n, bool)
    work = dict(alive=0, large=0, large_above_1e3=0, exact_split=0)
    log_big = math.log(1e-3) + (log_delta - math.log(1e-6))  # 1e-3 of the label scale (δ = 1e-6 of it)
    for _ in range(steps):
        g = r * s
        mask = alive.astype(float)
        acc = (X[:, 1:] * mask) @ g
        counts = alive.sum(axis=1)
        amp = np.sqrt(X[:, 0] ** 2 + np.sum(X[:, 1:] ** 2 * alive, axis=1))
        work["alive"] += int(counts.sum())
        work["large"] += int(counts[large].sum())
        work["large_above_1e3"] += int(counts[large & (np.log(amp) + log_scale >= log_big)].sum())
        work["exact_split"] += int(counts[large].sum() + (alive & changed)[~large].sum())
        X[:, 1:] += eta * X[:, :1] * g * mask / n
        alive &= ~(X[:, 1:] <= 0)
        X[:, 0] += eta * acc / n
        amp = np.sqrt(X[:, 0] ** 2 + np.sum(X[:, 1:] ** 2 * alive, axis=1))
        with np.errstate(divide="ignore"):
            crossing = ~large & (np.log(amp) + log_scale >= log_delta)
        if crossing.any():
            X[crossing] *= np.exp(log_scale[crossing])[:, None]
            log_scale[crossing] = 0.0
            large |= crossing
        r = residual()
        changed |= r != start
    return work, int(large.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 200, m = 16")
    args = parser.parse_args(argv)
    n, m = (200, 16) if args.quick else (1000, 40)
    eta = 1.0
    warm_up()
    labels = make_problem(n, "sign-balanced", seed=0).labels
    problem = OrthogonalProblem.from_inputs(orthonormal_inputs(n), labels)
    init = sample_initialization(problem, m, "balanced", seed=1)
    scale = math.sqrt(float(np.min(np.abs(labels) / problem.norms)))
    log_delta = math.log(1e-6 * scale)
    print(f"n = {n}, m = {m}, ±1 balanced labels, balanced init, gradient descent η = {eta:g}, δ = 1e-6\n")
    print("| σ | steps integrated | large neurons at the end (engine, replay) | alive updates | large | "
          "large above 1e-3 | exact split | quiet: updates | quiet: lumped steps | quiet: intervals (redone) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, log_sigma in (("1e-8", math.log(1e-8)), ("1e-300", math.log(1e-300))):
        run, calls = watch(problem, init, log_sigma, eta)
        busy = [c for c in calls if c[1] > 0]
        if any(c[2] == 0 for c in busy[:-1]):
            raise SystemExit(f"σ = {label}: the engine skipped a plateau between windows; the replay assumes one stretch")
        steps = sum(c[1] for c in busy)
        work, large = replay(problem, busy[0][0], steps, eta, log_delta)
        counts = quiet_work(problem, init, log_sigma, eta)
        print(f"| {label} | {steps} | {busy[-1][3]}, {large} | {work['alive'] / 1e6:.1f} M | "
              f"{work['large'] / 1e6:.1f} M | {work['large_above_1e3'] / 1e6:.1f} M | {work['exact_split'] / 1e6:.1f} M | "
              f"{counts[2] / 1e6:.1f} M | {counts[3] / 1e6:.2f} M | {counts[0]} ({counts[1]}) |")
    print("\nreplayed from the engine's state at its first integrated window (after the first plateau), for as many "
          "steps as the engine integrated; 'exact split': large neurons' alive coordinates plus small neurons' alive "
          "coordinates on samples whose residual has changed since then")


if __name__ == "__main__":
    main()
