"""Command-line interface: ``jumpprocess simulate | theory | validate | sweep | compare-log``.

``main(argv=None)`` returns an exit code, so tests call it directly (STYLE §13).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time

import numpy as np

from . import __version__
from .setting.initialization import InitKind, sample_initialization
from .setting.problem import LabelKind, make_problem

__all__ = ["main", "build_parser", "add_instance_arguments", "instance_from_args"]

# Subcommands provided by other packages: (module, description). Each module exposes
# add_parser(subparsers) and run(args) -> int and imports its heavy extras lazily.
_PLUGINS = {
    "theory": "theory.cli",
    "validate": "validation.cli",
    "sweep": "jumpprocess.scale.sweep",
    "compare-log": "jumpprocess.interop.cli",
}


def add_instance_arguments(parser: argparse.ArgumentParser, *, n: int = 1000, m: int = 40) -> None:
    """The options that define a problem and an initialization (shared by subcommands)."""
    group = parser.add_argument_group("instance")
    group.add_argument("-n", "--n", type=int, default=n, help=f"number of samples (default {n})")
    group.add_argument("-m", "--m", type=int, default=m, help=f"number of neurons (default {m})")
    group.add_argument("--labels", choices=[k.value for k in LabelKind], default=LabelKind.SIGN_BALANCED.value,
                       help="label law: exactly balanced ±1, fair-coin ±1, or standard Gaussian (default sign-balanced)")
    group.add_argument("--random-norms", action="store_true", help="data norms ~ Uniform(0.5, 2) instead of 1")
    group.add_argument("--init", choices=[k.value for k in InitKind], default=InitKind.BALANCED.value,
                       help="initialization law (spec §3; default balanced, the paper's)")
    group.add_argument("--seed", type=int, default=0, help="seed of the problem and the initialization (default 0)")
    group.add_argument("--step-size", type=float, default=None, metavar="ETA",
                       help="gradient-descent step η (rates ln(1+ηλ)/η); omit for gradient flow")


def instance_from_args(args):
    """``(problem, init)`` from parsed instance options; the two seeds are spawned from ``--seed``."""
    problem_seed, init_seed = np.random.SeedSequence(args.seed).spawn(2)
    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.m < 0:
        raise ValueError(f"--m must be >= 0, got {args.m}")
    problem = make_problem(args.n, args.labels, seed=np.random.default_rng(problem_seed), random_norms=args.random_norms)
    init = sample_initialization(problem, args.m, args.init, seed=np.random.default_rng(init_seed))
    return problem, init


def provenance(args, **extra) -> dict:
    """What produced a result: version, platform, parameters, seed (STYLE §14)."""
    params = {k: v for k, v in vars(args).items() if k not in ("func",) and not callable(v)}
    return {"jumpprocess": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "parameters": params, **extra}


def _jump_table(traj, max_rows: int) -> str:
    lines = [f"{'#':>4} {'τ':>10} {'neuron':>6} {'sign':>4} {'|F|':>6} {'rate λ':>10} {'loss after':>11}  tie"]
    rows = list(enumerate(traj.events))
    shown = rows if len(rows) <= max_rows else rows[: max_rows - 3] + [None] + rows[-2:]
    for row in shown:
        if row is None:
            lines.append(f"{'…':>4}  ({len(rows) - max_rows + 1} more jumps)")
            continue
        k, event = row
        tie = ""
        if event.tied_with:
            tie = ("overlapping with " if event.overlapping else "disjoint with ") + ",".join(map(str, event.tied_with))
        lines.append(
            f"{k + 1:>4} {event.time:>10.5f} {event.neuron:>6} {int(traj.signs[event.neuron]):>+4d} "
            f"{len(event.fitted):>6} {traj.rates[k, event.neuron]:>10.5g} {traj.plateau_losses[k + 1]:>11.5g}  {tie}"
        )
    return "\n".join(lines)


def _run_simulate(args) -> int:
    from .limit.engine import simulate

    if args.plot:  # fail before computing if the plotting extra is missing
        from .plotting import require_matplotlib

        require_matplotlib()

    problem, init = instance_from_args(args)
    start = time.perf_counter()
    traj = simulate(problem, init, step_size=args.step_size)
    wall = time.perf_counter() - start
    dynamics = "gradient flow" if args.step_size is None else f"gradient descent, η = {args.step_size:g}"
    print(f"jumpprocess {__version__}: σ→0 limit, n = {problem.n}, m = {init.m}, labels {args.labels}, "
          f"init {args.init}, seed {args.seed}, {dynamics}")
    print(f"time is rescaled: τ = t / ln(1/σ), loss 1/(2n) Σ (f − y)²\n")
    print(_jump_table(traj, args.max_rows))
    print()
    print(f"status            {traj.status}")
    print(f"jumps             {traj.num_jumps}  (last at τ = {traj.final_time:.6g})")
    print(f"loss              {traj.plateau_losses[0]:.6g} → {traj.plateau_losses[-1]:.6g}")
    ratio = f"ratio {traj.norm_ratio:.4f}" if traj.interpolates else "ratio - (no interpolation)"
    print(f"squared norm      {traj.squared_norm:.6g}   minimal interpolator {traj.min_squared_norm:.6g}   {ratio}")
    print(f"local rate        {traj.convergence_rate:.6g}  (smallest tangent-kernel eigenvalue at the end)")
    print(f"wall time         {wall * 1e3:.2f} ms (alignment + race)")
    if args.json:
        data = traj.to_dict()
        data["provenance"] = provenance(args, wall_time_s=wall)
        with open(args.json, "w") as handle:
            json.dump(data, handle, allow_nan=False)
        print(f"wrote {args.json}")
    if args.plot:
        from .plotting import plot_trajectory

        plot_trajectory(traj, args.plot)
        print(f"wrote {args.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jumpprocess",
        description="The exact σ→0 limit of two-layer ReLU training on orthogonal data: a saddle-to-saddle "
        "jump process (arXiv:2605.27097). Times are rescaled, τ = t / ln(1/σ).",
    )
    parser.add_argument("--version", action="version", version=f"jumpprocess {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    simulate = sub.add_parser(
        "simulate", help="compute the limit trajectory of one instance",
        description="Compute the σ→0 jump process of one instance and print its jump table and summary. "
        "With no options: n = 1000, ±1 balanced labels, balanced init, m = 40, gradient flow.",
    )
    add_instance_arguments(simulate)
    simulate.add_argument("--json", metavar="PATH", help="write the trajectory (lossless) with provenance")
    simulate.add_argument("--plot", metavar="PATH", help="write a PNG: staircase loss and exponents against τ")
    simulate.add_argument("--max-rows", type=int, default=24, help="jump-table rows to print (default 24)")
    simulate.set_defaults(func=_run_simulate)
    for name, module in _PLUGINS.items():
        try:
            importlib.import_module(module).add_parser(sub)
        except ImportError as error:  # a subcommand whose package is unavailable stays listed
            unavailable = sub.add_parser(name, help=f"(unavailable: {error})")
            unavailable.set_defaults(func=lambda args, error=error: _unavailable(error))
    return parser


def _unavailable(error) -> int:
    print(f"error: this subcommand is unavailable: {error}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Entry point of the ``jumpprocess`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # a missing optional extra: the message says which pip install
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
