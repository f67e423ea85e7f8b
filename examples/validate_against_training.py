"""
Validate the limit against real training (PyTorch)
==================================================

Trains the real two-layer ReLU network (float64, full-batch gradient descent, step 0.5) from
``σ θ̄`` for several σ, on exactly orthogonal inputs, and compares its jump times, fitted sets,
order and norms with the σ → 0 limit of the same step size (docs/math/convergence.rst). The
jump-time error should fall like ``1/ln(1/σ)``: the fit ``slope / ln(1/σ) + intercept`` has an
intercept near 0 when the run follows the limit.

    python examples/validate_against_training.py [--figures DIR]

Needs the ``validation`` extra (torch, matplotlib). The command line does the same:
``jumpprocess validate -n 8 -m 6 --labels gaussian --step-size 0.5``.
"""

import argparse
import sys

from jumpprocess import make_problem, sample_initialization


def run(sigmas=(1e-2, 1e-4, 1e-8, 1e-16), figures=None, verbose=True):
    """Train at every σ, compare with the limit; returns the ``ValidationReport``."""
    import validation
    from validation.figures import save_figures

    problem = make_problem(8, "gaussian", seed=0)                   # continuous labels, unit norms
    init = sample_initialization(problem, 6, "balanced", seed=0)    # θ̄ at unit scale
    report = validation.compare(problem, init, sigmas, step_size=0.5, device="cpu")
    if verbose:
        print(report.table())               # per σ: jump-time error, fitted sets, order, norms
        print("\nverdict:", report.verdict)
    if figures:
        for path in save_figures(report, figures):  # loss curves, error fit, neuron norms
            print("figure:", path)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--figures", metavar="DIR", help="write the three PNG figures there")
    args = parser.parse_args(argv)
    report = run(figures=args.figures)
    return 0 if report.verdict == "converging" else 1


if __name__ == "__main__":
    sys.exit(main())
