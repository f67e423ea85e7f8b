"""``jumpprocess compare-log FILE``: a saved training log against the limit and the finite-σ run.

Registered by :mod:`jumpprocess.cli` (``add_parser(subparsers)`` and ``run(args)``).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "run", "FORMAT_HELP"]

FORMAT_HELP = """\
The log file is one JSON object (.json) or a numpy archive (.npz) with these keys, all in your
own units and layout (jumpprocess.interop.logged_run.save_training_log writes it):

  inputs          (n, d)          the inputs X as fed to the network (no bias column)
  labels          (n,) or (n, 1)  the targets y
  hidden_weight   (m, d)          W(0), the first layer's weight at the start of training
  hidden_bias     (m,), optional  b(0); its presence means the network has a hidden bias
  output_weight   (m,) or (1, m)  a(0), the output layer's weight (an output bias is not supported)
  loss            str or number   "half-mean", "mean" (nn.MSELoss()), "sum", "half-sum", or the
                                  factor c of 1/(2n) sum r^2 (default "half-mean")
  output_scale    number or str   kappa in f = kappa sum_j a_j relu(...), or "1/m", "1/sqrt(m)"
                                  (default 1)
  lr              number          full-batch SGD learning rate (required with "steps")
  sigma           number          the initialization scale, theta(0) = sigma theta_bar (optional;
                                  default: the per-neuron RMS scale of theta(0))
  steps | times   (T,)            the logged steps (ints) or times t (exactly one of the two)
  losses          (T,)            the logged loss, in your loss
  outputs         (T, n)          optional: the network outputs f(x_i) at the logged points
                                  (needed for half-fit times and fitted sets)

Example JSON: {"inputs": [[1, 0], [0, 1]], "labels": [1, -1], "hidden_weight": [[0.001, 0.002]],
"output_weight": [0.002], "loss": "mean", "lr": 0.1, "steps": [0, 1, 2], "losses": [1.0, 1.0, 1.0]}

Exit status: 0 when the log agrees with every prediction made, 1 when one differs, 2 on bad input.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``compare-log`` subcommand on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "compare-log", help="compare a saved training log with the σ→0 limit and the finite-σ run",
        description="Read a training log of a two-layer ReLU network (initial weights, data, convention,\n"
                    "logged losses and optionally outputs), predict the same run with the σ→0 limit and the\n"
                    "finite-σ engine (jumpprocess.simulate_finite, when installed), and print a per-jump\n"
                    "comparison and a verdict in your own steps/times and loss.",
        epilog=FORMAT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("log", metavar="FILE", help="the saved log (.json or .npz; format below)")
    parser.add_argument("--sigma", type=float, default=None,
                        help="initialization scale σ (overrides the file's; default: the file's, else chosen)")
    parser.add_argument("--no-finite", action="store_true", help="skip the finite-σ prediction")
    parser.add_argument("--method", default=None, help="method passed to jumpprocess.simulate_finite")
    parser.add_argument("--plateau-tolerance", type=float, default=None,
                        help="plateau losses agree within this fraction of the initial loss (default 0.01)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG overlaying the three loss curves")
    parser.add_argument("--json", metavar="PATH", help="write the comparison (per jump, verdicts) as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Run ``compare-log``; exit status 0 (agrees), 1 (differs) or 2 (bad input, via ValueError)."""
    from .logged_run import PLATEAU_TOLERANCE, compare_log, load_training_log

    if args.plot:  # fail before computing if the plotting extra is missing
        from ..plotting import require_matplotlib

        require_matplotlib()
    imported, log = load_training_log(args.log, sigma=args.sigma)
    options = {} if args.method is None else {"method": args.method}
    tolerance = PLATEAU_TOLERANCE if args.plateau_tolerance is None else args.plateau_tolerance
    result = compare_log(imported, log, finite=False if args.no_finite else "auto", finite_options=options,
                         plateau_tolerance=tolerance)
    print(imported.summary())
    print(f"log: {log.size} points in {log.axis_name}s, "
          f"{'with' if log.outputs is not None else 'without'} outputs; limit status: {result.limit.status}\n")
    print(result.table())
    print()
    print(result.verdict)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result.to_dict(), handle, allow_nan=False)
        print(f"wrote {args.json}")
    if args.plot:
        result.plot(args.plot)
        print(f"wrote {args.plot}")
    verdicts = [flag for flag in (result.agrees_with_limit, result.agrees_with_finite) if flag is not None]
    return 0 if all(verdicts) else 1
