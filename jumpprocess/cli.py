"""Command-line interface: ``jumpprocess simulate | theory | validate | sweep | compare-log``.

``main(argv=None)`` returns an exit code, so tests call it directly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

import numpy as np

from . import __version__
from .cliargs import check_memory, check_output_file, integer, real
from .setting.initialization import InitKind
from .setting.instance import make_instance
from .setting.problem import LabelKind

__all__ = ["main", "build_parser", "add_instance_arguments", "instance_from_args", "instance_bytes"]

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
    group.add_argument("-n", "--n", type=integer(1), default=n, help=f"number of samples (default {n})")
    group.add_argument("-m", "--m", type=integer(0), default=m, help=f"number of neurons (default {m})")
    group.add_argument("--labels", choices=[k.value for k in LabelKind], default=LabelKind.SIGN_BALANCED.value,
                       help="label law: exactly balanced ±1, fair-coin ±1, or standard Gaussian (default sign-balanced)")
    group.add_argument("--random-norms", action="store_true", help="data norms ~ Uniform(0.5, 2) instead of 1")
    group.add_argument("--init", choices=[k.value for k in InitKind], default=InitKind.BALANCED.value,
                       help="initialization law (docs/math/alignment.rst; default balanced, the paper's)")
    group.add_argument("--seed", type=integer(0), default=0, help="seed of the problem and the initialization (default 0)")
    group.add_argument("--step-size", type=real(0.0, low_open=True), default=None, metavar="ETA",
                       help="gradient-descent step η (rates ln(1+ηλ)/η); omit for gradient flow")


def instance_bytes(n: int, m: int) -> float:
    """Estimated peak memory (bytes) of drawing and simulating one instance of size (n, m).

    The problem (a few float64 vectors of length n), the m × n float64 preactivations with
    the temporaries of their sampling (about three copies), and the m × n good-set pattern
    with its packed copy.
    """
    return 40.0 * n + 26.0 * float(m) * n


def instance_from_args(args):
    """``(problem, init)`` from parsed instance options: :func:`~jumpprocess.make_instance`, whose
    two seeds are spawned from ``--seed`` (the same run as ``make_instance(..., seed=SEED)``).

    Raises
    ------
    ValueError
        ``--n < 1``, ``--m < 0``, a negative ``--seed``, or an instance whose arrays would not
        fit in the memory available (:func:`instance_bytes`), refused before allocating.
    """
    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.m < 0:
        raise ValueError(f"--m must be >= 0, got {args.m}")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    check_memory(instance_bytes(args.n, args.m), f"-n {args.n} -m {args.m}: the m x n preactivations in float64",
                 "use a smaller -n or -m")
    return make_instance(args.n, args.m, args.labels, args.init, seed=args.seed, random_norms=args.random_norms)


def provenance(args, **extra) -> dict:
    """What produced a result: version, platform, parameters, seed."""
    params = {k: v for k, v in vars(args).items() if k not in ("func",) and not callable(v)}
    return {"jumpprocess": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "parameters": params, **extra}


def _jump_table(traj, max_rows: int) -> str:
    """The first and last jumps, ``max_rows`` in all (the last two kept when there are 4 or more)."""
    lines = [f"{'#':>4} {'τ':>10} {'neuron':>6} {'sign':>4} {'|F|':>6} {'rate λ':>10} {'loss after':>11}  tie"]
    rows = list(enumerate(traj.events))
    if len(rows) <= max_rows:
        shown = rows
    else:
        tail = min(2, max_rows // 2)
        head = max_rows - tail
        shown = rows[:head] + [None] + rows[len(rows) - tail:]
    for row in shown:
        if row is None:
            hidden = len(rows) - max_rows
            lines.append(f"{'…':>4}  ({hidden} more jumps)" if max_rows else f"{'…':>4}  ({hidden} jumps not shown)")
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
        check_output_file(args.plot, "--plot")
    if args.json:
        check_output_file(args.json, "--json")

    if args.ties is not None:  # before any work: 'joint' has no meaning under gradient descent
        from .limit.ties import check_ties

        check_ties(args.ties, args.step_size)
    finite = args.sigma is not None or args.log_sigma is not None
    if finite:  # check σ before any work
        from .finite.engine import check_log_sigma

        check_log_sigma(args.sigma, args.log_sigma)
    problem, init = instance_from_args(args)
    from .limit.compiled import one_time_costs

    known_costs = len(one_time_costs())
    start = time.perf_counter()
    traj = simulate(problem, init, step_size=args.step_size, ties="index")
    wall = time.perf_counter() - start
    # numba's import and kernel loads happen once per process: reported apart, not as engine time
    startup = list(one_time_costs()[known_costs:])
    wall -= sum(seconds for _, seconds in startup)
    if args.step_size is None and args.ties != "index":  # the flow default: the joint escape (docs/math/ties.rst)
        from .limit.ties import resolve_ties

        if traj.ambiguous:  # a finite-σ run follows: load its kernels outside the timing
            from .finite.engine import warm_up

            loading = warm_up()
            if loading:
                startup.append(("finite-σ kernels", loading))
        start = time.perf_counter()
        traj = resolve_ties(traj, init)  # what simulate(..., ties="joint") does after the race
        wall += time.perf_counter() - start
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
    print(f"wall time         {wall * 1e3:.2f} ms (alignment + race{' + joint escape' if traj.joint else ''}; engine only)")
    for what, seconds in startup:
        print(f"one-time cost     {what}: {seconds:.2f} s (once per process, not engine time)")
    run = _run_finite(args, problem, init, traj) if finite else None
    if args.json:
        from .limit.runs import run_record

        data = run_record(traj, init, provenance(args, wall_time_s=wall,
                                                 one_time_costs_s={what: seconds for what, seconds in startup}))
        if run is not None:
            data["finite_sigma"] = run.to_dict(traj)
        with open(args.json, "w") as handle:
            json.dump(data, handle, allow_nan=False)
        print(f"wrote {args.json}")
    if args.plot:
        from .plotting import plot_trajectory

        caption = f"labels {args.labels}{', random norms' if args.random_norms else ''}, init {args.init}, seed {args.seed}"
        if run is not None:
            from .finite.report import plot_finite_run

            plot_finite_run(run, traj, args.plot, log_loss=args.log_loss, caption=caption)
        else:
            plot_trajectory(traj, args.plot, caption=caption, log_loss=args.log_loss)
        print(f"wrote {args.plot}")
    return 0


def _run_finite(args, problem, init, traj):
    """The run at the requested σ, printed beside the limit (docs/math/finite-sigma.rst)."""
    from .finite.engine import simulate_finite
    from .finite.report import side_by_side, sigma_text

    run = simulate_finite(problem, init, sigma=args.sigma, log_sigma=args.log_sigma, step_size=args.step_size,
                          method=args.method)
    print(f"\nthe run at σ = {sigma_text(run.log_sigma)} ({run.method} engine, {run.seconds * 1e3:.1f} ms; "
          f"times t in training units, τ = t / ln(1/σ)):\n")
    print(side_by_side(traj, run, args.max_rows))
    print(f"status at σ       {run.status}")
    if run.startup_seconds:
        print(f"one-time cost     finite-σ kernels: {run.startup_seconds:.2f} s (once per process, not engine time)")
    return run


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
    simulate.add_argument("--json", metavar="PATH",
                          help="write the trajectory (lossless), the initialization and provenance; "
                          "jumpprocess.load_run(PATH).recompute() reruns it")
    simulate.add_argument("--plot", metavar="PATH", help="write a PNG: staircase loss and exponents against τ")
    simulate.add_argument("--log-loss", action="store_true", help="with --plot: log scale for the loss")
    finite = simulate.add_mutually_exclusive_group()
    finite.add_argument("--sigma", type=float, metavar="S",
                        help="also compute the run at initialization scale S (0 < S < 1) without training it, "
                        "and print it beside the limit (times in t and τ, which jumps differ); with --plot, "
                        "overlay its loss on the limit's staircase mapped by t = τ ln(1/σ)")
    finite.add_argument("--log-sigma", type=float, metavar="L",
                        help="as --sigma, given as L = ln σ < 0 (for σ below the float range, e.g. -1e5)")
    simulate.add_argument("--method", choices=("hybrid", "direct"), default="hybrid",
                          help="with --sigma: 'hybrid' (default; cost independent of σ) or 'direct' "
                          "(every neuron integrated for the whole run; σ >= 1.5e-154)")
    simulate.add_argument("--ties", choices=("joint", "index"), default=None,
                          help="rule at an overlapping tie (docs/math/ties.rst): 'joint' (the determined limit: the "
                          "tied neurons escape together and share samples, read from one finite-σ run; gradient "
                          "flow only) or 'index' (lowest index first, a convention, flagged ambiguous). Default: "
                          "joint for gradient flow, index for gradient descent")
    simulate.add_argument("--max-rows", type=integer(0), default=24,
                          help="jump-table rows to print: the first ones and the last two (default 24)")
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
    """Entry point of the ``jumpprocess`` command; returns the exit code (never raises SystemExit).

    0 success, 2 bad usage or input (argparse's status; the message names the option),
    1 when the output pipe closed early (``jumpprocess simulate | head``: quietly), and
    the subcommand's own statuses otherwise (``validate --help``).
    """
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help, --version, usage errors: argparse printed the message
            return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
        if args.command is None:
            build_parser().print_help()
            code = 0
        else:
            code = _run_command(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Python's recipe: point stdout at
        # devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run_command(args) -> int:
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
