"""Hybrid vs direct finite-σ engines on random instances: the accuracy acceptance, measured.

    python benchmarks/finite_accuracy.py                  # 30 instances × 5 σ × {flow, η = 0.5, η = 2}
    python benchmarks/finite_accuracy.py --instances 5    # quicker

Instances (tests/finite/instances.py): n 4–40, m 4–30, ±1 or Gaussian labels, unit or random
norms, balanced / output-dominated / Gaussian inits. For each, the largest over samples of
|t_hybrid − t_direct| / (last half-fit time) (flow; descent: whether every half-fit step is
identical) and the sup over t of |L_hybrid(t) − L_direct(t)| / L(0). Targets: 1e-6, identical
steps, 1e-6.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "finite"))
from instances import random_instance  # noqa: E402

from jumpprocess import simulate_finite  # noqa: E402

SIGMAS = (1e-2, 1e-4, 1e-8, 1e-16, 1e-32)
METHODS = {"flow": None, "GD η=0.5": 0.5, "GD η=2": 2.0}


def compare(problem, init, sigma, eta):
    start = time.perf_counter()
    direct = simulate_finite(problem, init, sigma=sigma, step_size=eta, method="direct")
    middle = time.perf_counter()
    hybrid = simulate_finite(problem, init, sigma=sigma, step_size=eta, method="hybrid")
    end = time.perf_counter()
    same = np.array_equal(np.isnan(direct.half_fit_times), np.isnan(hybrid.half_fit_times))
    ok = np.isfinite(direct.half_fit_times)
    last = float(np.max(direct.half_fit_times[ok])) if ok.any() else 1.0
    dt = float(np.max(np.abs(direct.half_fit_times[ok] - hybrid.half_fit_times[ok]), initial=0.0)) / last
    grid = np.unique(np.concatenate([direct.samples[:, 0], hybrid.samples[:, 0],
                                     np.linspace(0, 1.1 * max(direct.final_time, hybrid.final_time), 2000)]))
    dl = float(np.max(np.abs(direct.loss_at(grid) - hybrid.loss_at(grid)))) / direct.loss_at(0.0)
    return same, dt, dl, middle - start, end - middle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=30)
    args = parser.parse_args(argv)
    worst = {name: [0.0, 0.0, 0, 0.0, 0.0] for name in METHODS}
    failures = 0
    for seed in range(args.instances):
        problem, init, description = random_instance(seed)
        for name, eta in METHODS.items():
            for sigma in SIGMAS:
                same, dt, dl, t_direct, t_hybrid = compare(problem, init, sigma, eta)
                w = worst[name]
                w[0], w[1] = max(w[0], dt), max(w[1], dl)
                w[2] += int(dt > 0)
                w[3] += t_direct
                w[4] += t_hybrid
                bad = not same or dl > 1e-6 or (dt > 1e-6 if eta is None else dt > 0)
                if bad:
                    failures += 1
                    print(f"FAIL {description} {name} σ={sigma:g}: max|Δt|/T={dt:.3g}, sup|ΔL|/L0={dl:.3g}")
    runs = args.instances * len(SIGMAS)
    print(f"{args.instances} instances × σ ∈ {SIGMAS}: {runs} runs per method")
    print(f"{'method':<10} {'max |Δt|/T':>11} {'runs with Δt≠0':>15} {'sup |ΔL|/L0':>12} {'direct s':>9} {'hybrid s':>9}")
    for name, (dt, dl, moved, td, th) in worst.items():
        print(f"{name:<10} {dt:>11.2g} {moved:>15} {dl:>12.2g} {td:>9.1f} {th:>9.1f}")
    print(f"{failures} failures of the targets (flow 1e-6, descent identical steps, loss 1e-6)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
