"""``jumpprocess validate``: train real networks at several σ and compare them with the limit.

The subcommand is registered by :mod:`jumpprocess.cli` through :func:`add_parser`; tests
build a parser themselves and call :func:`run`. Example::

    jumpprocess validate -n 8 -m 4 --batch-size 4 --sigmas 1e-2,1e-8,1e-32,1e-64 \\
        --json report.json --figures figures/

prints the per-σ error table (jump-time error against the race for the training step and
against gradient flow, fitted-set and order errors, norm and loss errors), the fit of the
jump-time error against 1/ln(1/σ) and the verdict, with a progress bar (tqdm) over the
``batch × len(σ)`` runs.

Exit status: 0 converging, 1 mismatch, 2 bad input, 3 near-tie, 4 inconclusive (nothing
was compared: no limit jump, or none reached within ``--max-steps`` at every σ; a script
must not read that as a pass).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

__all__ = ["add_parser", "run", "build_instances", "EXIT_CODES"]

#: Exit status per verdict (2 is reserved for bad input / usage errors).
EXIT_CODES = {"converging": 0, "mismatch": 1, "near-tie": 3, "inconclusive": 4}

#: Without ``--step-size`` the step is gradient-flow-like: ``η λ <= FLOW_LIKE_STEP`` for every
#: rate of the limit (rate distortion ``1 − ln(1+ηλ)/(ηλ) <= 1%``), and ``η <= 0.1``.
FLOW_LIKE_STEP = 0.02


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``validate`` subcommand to ``subparsers``; returns its parser."""
    from jumpprocess.cli import add_instance_arguments
    from jumpprocess.cliargs import integer, number_list, real

    from .comparison import DEFAULT_SIGMAS
    from .observables import NEAR_TIE_CONSTANT

    parser = subparsers.add_parser(
        "validate",
        help="train real finite-σ networks (PyTorch) and compare them with the limit",
        description="Train the real two-layer ReLU network from σ·θ̄ for every σ and every initialization of "
        "a batch (full-batch gradient descent, float64, CPU or CUDA), and compare jump times, fitted sets, "
        "order and final norm with the σ→0 limit (docs/math/convergence.rst). Exit status: 0 converging, "
        "1 mismatch, 2 bad input, 3 near-tie, 4 inconclusive (nothing compared: no limit jump, or none reached "
        "within --max-steps at every σ). Needs: pip install 'jumpprocess[validation]'.",
    )
    add_instance_arguments(parser, n=8, m=4)
    group = parser.add_argument_group("validation")
    default = ",".join(f"{s:g}" for s in DEFAULT_SIGMAS)
    group.add_argument("--sigmas", type=number_list, default=list(DEFAULT_SIGMAS), metavar="LIST",
                       help=f"comma-separated initialization scales (default {default})")
    group.add_argument("--batch-size", type=integer(1), default=1, metavar="B",
                       help="independent initializations trained together (default 1)")
    group.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    group.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                       help="training dtype (float32 cannot go below σ ≈ 1e-19)")
    group.add_argument("--d", type=integer(1), default=None, help="input dimension, >= n (default n)")
    group.add_argument("--nearly-orthogonal", action="store_true",
                       help="Gaussian inputs in R^d (use d >> n): the limit is extrapolated, deviations measured")
    group.add_argument("--loss-tolerance", type=real(0.0, 1.0, low_open=True, high_open=True), default=1e-10,
                       help="stop once L <= L_final + tol * L(0) (default 1e-10)")
    group.add_argument("--max-steps", type=integer(1), default=2_000_000, help="cap on steps per run (default 2e6)")
    group.add_argument("--near-tie-constant", type=real(0.0), default=NEAR_TIE_CONSTANT,
                       help=f"c in the near-tie threshold c(1/λ_a + 1/λ_b)/ln(1/σ) (default {NEAR_TIE_CONSTANT:g})")
    group.add_argument("--json", metavar="PATH", help="write the report (with curves and provenance) as JSON")
    group.add_argument("--figures", metavar="DIR", help="write loss.png, jump_time_error.png, neuron_norms.png")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def build_instances(args):
    """``(problem, inits, inputs)`` from parsed options.

    Initialization 0 is the one ``jumpprocess simulate`` draws for the same options; the
    others are spawned from its seed. Inputs are exactly orthogonal coordinate vectors in
    ``R^d`` or, with ``--nearly-orthogonal``, Gaussian rows with the problem's norms (the
    initializations are then drawn against them).
    """
    from jumpprocess import sample_initialization
    from jumpprocess.cli import instance_from_args

    from .data import nearly_orthogonal_inputs, orthogonal_inputs

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    problem, first = instance_from_args(args)
    d = problem.n if args.d is None else int(args.d)
    if d < problem.n:
        raise ValueError(f"--d must be >= n = {problem.n} (orthogonal data needs d >= n), got {d}")
    children = np.random.SeedSequence([args.seed, 1]).spawn(max(args.batch_size, 1))
    if args.nearly_orthogonal:
        inputs = nearly_orthogonal_inputs(problem.norms, d, seed=args.seed)
        seeds = [np.random.default_rng(child) for child in children]
        inits = [sample_initialization(problem, args.m, args.init, seed=seed, inputs=inputs, atol=1.0)  # not orthogonal
                 for seed in seeds]
    else:
        inputs = orthogonal_inputs(problem.norms, d, seed=args.seed)
        inits = [first] + [
            sample_initialization(problem, args.m, args.init, seed=np.random.default_rng(child))
            for child in children[1:]
        ]
    return problem, inits, inputs


def _flow_like_step(problem, inits) -> float:
    from jumpprocess import simulate

    fastest = 0.0
    for init in inits:
        flow = simulate(problem, init)
        for k in range(flow.num_jumps):
            fastest = max(fastest, float(flow.rates[k, flow.neurons[k]]))
    return min(0.1, FLOW_LIKE_STEP / fastest) if fastest > 0 else 0.1


def training_bytes(n: int, m: int, d: int, runs: int, checkpoints: int = 160) -> float:
    """Estimated peak memory (bytes) of training ``runs`` networks of width m on n × d inputs.

    Per run the m × d weights with their gradient and update (float64, three copies), the
    m × n pre-activations, activations and their gradient, and the recorded curves; plus
    the inputs.
    """
    per_run = 8.0 * (3.0 * m * d + 3.0 * m * n + n + checkpoints * (m + 2))
    return runs * per_run + 16.0 * n * d


def run(args) -> int:
    """Run ``validate`` for parsed ``args``; returns the exit status (see module docstring)."""
    from jumpprocess.cli import instance_bytes
    from jumpprocess.cliargs import check_memory, check_output_file, prepare_output_dir

    from .comparison import compare

    try:
        if args.json:
            check_output_file(args.json, "--json")
        if args.figures:
            prepare_output_dir(args.figures, "--figures")
        d = args.n if args.d is None else args.d
        runs = args.batch_size * len(args.sigmas)
        check_memory(training_bytes(args.n, args.m, d, runs) + args.batch_size * instance_bytes(args.n, args.m),
                     f"{runs} runs of width m = {args.m} on n = {args.n} inputs in R^{d}",
                     "use a smaller -n, -m, --d, --batch-size or fewer --sigmas")
        problem, inits, inputs = build_instances(args)
        step = args.step_size if args.step_size is not None else _flow_like_step(problem, inits)
        total = len(inits) * len(args.sigmas)
        bar = None
        if not args.no_progress and total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc="runs finished (init x sigma)", unit="run", file=sys.stderr)

        def progress(finished, step_count):
            if bar is not None:
                bar.n = finished
                bar.set_postfix(step=step_count, refresh=False)
                bar.refresh()

        try:
            report = compare(
                problem,
                inits,
                args.sigmas,
                step_size=step,
                device=args.device,
                inputs=inputs,
                dtype=args.dtype,
                loss_tolerance=args.loss_tolerance,
                max_steps=args.max_steps,
                near_tie_constant=args.near_tie_constant,
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    how = "given" if args.step_size is not None else f"gradient-flow-like, eta*lambda <= {FLOW_LIKE_STEP}"
    print(
        f"validate: n = {problem.n}, m = {args.m}, labels {args.labels}, init {args.init}, seed {args.seed}, "
        f"batch {len(inits)}, step size {step:.4g} ({how}); tau = t / ln(1/sigma), t = k * eta\n"
    )
    print(report.table())
    print(f"\ntraining: {report.training.steps_run} steps of {report.training.batch_size} runs in "
          f"{report.training.wall_seconds:.2f} s on {report.training.device}")
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(report.to_json())
        print(f"wrote {args.json}")
    if args.figures:
        from .figures import save_figures

        for path in save_figures(report, args.figures):
            print(f"wrote {path}")
    return EXIT_CODES[report.verdict]
