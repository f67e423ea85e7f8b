"""Resumable parameter sweeps of :func:`~jumpprocess.scale.batch.simulate_many` (spec §7–§8).

A sweep is a grid of ``n`` (samples), ``m`` (width; ``"auto"`` = ``round(4 log2 n)``),
label kinds and init kinds, with ``trials`` initializations per grid point split into
chunks of ``chunk`` trials. Each ``(n, m, labels, init, chunk)`` is one *task* with its
own seed, derived from the sweep seed by ``numpy.random.SeedSequence``; every trial's
own seed (:func:`~jumpprocess.scale.batch.trial_seeds` of the task seed) is recorded, so any
trial can be re-run alone with ``simulate``.

Persistence. Results go to an append-only JSON-lines file, one line per completed task,
written by the driver alone (never by workers) and made durable with ``flush`` +
``fsync`` before the next one. On restart, the tasks whose key is already in the file
are skipped; a truncated last line (an interrupted write) is cut off first. Nothing
written is lost and no task is written twice. ``results.csv`` (one row per trial) and
the figures are derived from the JSON lines.

Execution. Locally a sweep uses all cores by default (a ``ProcessPoolExecutor`` with the
``spawn`` start method, one compiled-kernel thread per process); given a scheduler
address it runs on that Dask cluster through ``dask.distributed.Client``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..setting.initialization import InitKind
from ..setting.problem import LabelKind, make_problem
from .batch import SUMMARY_FIELDS, simulate_many

__all__ = [
    "SweepTask",
    "auto_width",
    "sweep_tasks",
    "run_task",
    "run_sweep",
    "load_results",
    "write_csv",
    "plot_sweep",
    "add_parser",
    "run",
]

RESULTS_NAME = "results.jsonl"
CSV_NAME = "results.csv"


def auto_width(n: int) -> int:
    """The studies' default width ``m = round(4 log2 n)`` (spec §8), at least 1."""
    return max(1, int(round(4 * math.log2(n)))) if n > 1 else 1


@dataclass(frozen=True)
class SweepTask:
    """One chunk of trials at one grid point.

    Attributes
    ----------
    n, m : int
        Samples and width.
    labels, init : str
        Label kind (:class:`~jumpprocess.setting.problem.LabelKind`) and init kind.
    chunk : int
        Index of this chunk of the grid point's trials.
    trials : int
        Trials in this chunk.
    seed : int
        Root seed of :func:`simulate_many` for this chunk.
    problem_seed : int
        Seed of ``make_problem(n, labels, seed=problem_seed)``, shared by the grid point.
    step_size : float or None
    sampling : str
    """

    n: int
    m: int
    labels: str
    init: str
    chunk: int
    trials: int
    seed: int
    problem_seed: int
    step_size: float | None = None
    sampling: str = "auto"

    @property
    def key(self) -> str:
        """Identity of the task in a results file (resumption skips known keys)."""
        step = "flow" if self.step_size is None else repr(float(self.step_size))
        return f"n={self.n}|m={self.m}|labels={self.labels}|init={self.init}|step={step}|sampling={self.sampling}|chunk={self.chunk}|seed={self.seed}"


def _derive(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0])


def sweep_tasks(ns, ms=("auto",), labels=("sign-balanced",), inits=("balanced",), *, trials: int = 1000,
                chunk: int = 1000, seed: int = 0, step_size: float | None = None, sampling: str = "auto") -> list[SweepTask]:
    """The tasks of a grid sweep (module notes).

    Seeds: the problem of ``(n, labels)`` uses ``SeedSequence([seed, 0, n, label index])``
    and chunk ``c`` of ``(n, m, labels, init)`` uses ``SeedSequence([seed, 1, n, m, label
    index, init index, c])``, so adding grid points or trials never changes existing tasks.

    Raises
    ------
    ValueError
        Empty grid, unknown kinds, non-positive ``n``, ``trials`` or ``chunk``.
    """
    label_kinds = [LabelKind(k).value for k in labels]
    init_kinds = [InitKind(k).value for k in inits]
    ns = [int(n) for n in ns]
    if not ns or not label_kinds or not init_kinds or not list(ms):
        raise ValueError("the sweep grid is empty: give at least one n, m, label kind and init kind")
    if any(n < 1 for n in ns):
        raise ValueError(f"every n must be a positive integer, got {ns}")
    if int(trials) < 1 or int(chunk) < 1:
        raise ValueError(f"trials and chunk must be positive integers, got trials={trials}, chunk={chunk}")
    label_index = {k.value: i for i, k in enumerate(LabelKind)}
    init_index = {k.value: i for i, k in enumerate(InitKind)}
    tasks = []
    for n in ns:
        widths = sorted({auto_width(n) if str(m) == "auto" else int(m) for m in ms})
        for label in label_kinds:
            problem_seed = _derive(seed, 0, n, label_index[label])
            for m in widths:
                for init in init_kinds:
                    for c, start in enumerate(range(0, int(trials), int(chunk))):
                        tasks.append(SweepTask(
                            n=n, m=m, labels=label, init=init, chunk=c, trials=min(int(chunk), int(trials) - start),
                            seed=_derive(seed, 1, n, m, label_index[label], init_index[init], c),
                            problem_seed=problem_seed, step_size=step_size, sampling=sampling,
                        ))
    return tasks


def run_task(task: SweepTask, threads: int | None = None) -> dict:
    """Run one task; returns the JSON-ready record written to the results file.

    ``threads`` caps numba's threads in this process (1 when several run side by side).
    """
    if threads is not None:
        try:
            import numba

            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        except ImportError:
            pass
    from .. import __version__

    problem = make_problem(task.n, task.labels, seed=task.problem_seed)
    summary = simulate_many(problem, task.m, task.trials, init=task.init, seed=task.seed,
                            step_size=task.step_size, sampling=task.sampling)
    results = {name: summary[name].tolist() for name in SUMMARY_FIELDS}
    for name in ("first_time", "norm_ratio"):  # NaN (no jump; no interpolation) is null in JSON
        results[name] = [None if value != value else value for value in results[name]]
    return {
        "key": task.key,
        "task": asdict(task),
        "sampling": summary.sampling,
        "n_pos": int(np.sum(problem.labels > 0)),
        "n_neg": int(np.sum(problem.labels < 0)),
        "min_squared_norm": summary.min_squared_norm,
        "version": __version__,
        "results": results,
    }


def load_results(path, *, repair: bool = False) -> list[dict]:
    """Records of a results file, first occurrence of each key, in file order.

    A last line without its newline is an interrupted write: it is ignored, and cut off
    the file when ``repair`` is true (so that appending resumes on a clean line).
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if repair and complete < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(complete)
            handle.flush()
            os.fsync(handle.fileno())
    records, seen = [], set()
    for line in data[:complete].splitlines():
        if not line.strip():
            continue
        record = _upgrade(json.loads(line))
        if record["key"] not in seen:
            seen.add(record["key"])
            records.append(record)
    return records


def _upgrade(record: dict) -> dict:
    """A record written by an earlier version, in the current meaning of the summary fields.

    Before ``identical_ties`` existed, ``ambiguous`` meant "some overlapping tie" (identical
    remaining sets included); it now means "the function is not determined" (spec §6),
    which is ``not function_determined``. ``identical_ties`` is recovered where the old
    fields determine it, and is ``None`` (unknown) for a trial that had both kinds of tie.
    """
    results = record.get("results", {})
    if "identical_ties" not in results and "ambiguous" in results and "function_determined" in results:
        overlap, determined = results["ambiguous"], results["function_determined"]
        results["ambiguous"] = [not bool(d) for d in determined]
        results["identical_ties"] = [bool(o) if d else None for o, d in zip(overlap, determined)]
    return record


def _append(handle, record: dict) -> None:
    handle.write(json.dumps(record, allow_nan=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _local_results(pending, workers: int):
    """Yield (task, record) as tasks finish in a pool of ``workers`` spawned processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_task, task, 1): task for task in pending}
        try:
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    yield futures.pop(future), future.result()
        finally:
            for future in futures:
                future.cancel()


def _dask_results(pending, scheduler):
    """Yield (task, record) as tasks finish on the Dask cluster at ``scheduler``."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError as error:
        raise ImportError("running on a Dask cluster needs dask.distributed: pip install 'jumpprocess[scale]'") from error
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(run_task, task, 1, pure=False, key=f"jumpprocess-sweep-{task.key}-{task.seed}")
                   for task in pending]
        by_key = {future.key: task for future, task in zip(futures, pending)}
        try:
            for future in as_completed(futures):
                yield by_key[future.key], future.result()
        finally:
            client.cancel(futures)
    finally:
        if client is not scheduler:
            client.close()


def run_sweep(tasks, output, *, scheduler=None, workers: int | None = None, progress: bool = True,
              on_record=None, csv_path=None) -> list[dict]:
    """Run (or resume) a sweep; return all records of the results file.

    Parameters
    ----------
    tasks : list of SweepTask
        From :func:`sweep_tasks`.
    output : path
        Directory; results go to ``output/results.jsonl`` (append-only, module notes).
    scheduler : str or dask.distributed.Client, optional
        Address of a Dask scheduler (or a client): run the tasks there.
    workers : int, optional
        Local processes; default ``os.cpu_count()``. ``1`` runs in this process, where
        the compiled kernel uses all cores itself.
    progress : bool
        Show a ``tqdm`` progress bar (if tqdm is installed).
    on_record : callable, optional
        ``on_record(task, record)`` after each record is durably written (a hook for
        monitoring; an exception raised there stops the sweep, as an interruption would).
    csv_path : path, optional
        Also write one row per trial to this CSV (default ``output/results.csv``).

    Returns
    -------
    list of dict
        Every record in the results file, including those of earlier runs.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / RESULTS_NAME
    done = {record["key"] for record in load_results(path, repair=True)}
    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("the sweep has duplicate tasks (same key twice)")
    pending = [task for task in tasks if task.key not in done]
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), unit="task", desc="sweep")
        except ImportError:
            bar = None
    if scheduler is not None:
        results = _dask_results(pending, scheduler)
    else:
        workers = (os.cpu_count() or 1) if workers is None else int(workers)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        results = ((task, run_task(task)) for task in pending) if workers == 1 or len(pending) <= 1 else _local_results(pending, workers)
    try:
        with open(path, "a", encoding="utf-8") as handle:
            for task, record in results:
                _append(handle, record)
                if bar is not None:
                    bar.update(1)
                if on_record is not None:
                    on_record(task, record)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        if bar is not None:
            bar.close()
    records = load_results(path)
    write_csv(records, output / CSV_NAME if csv_path is None else csv_path)
    return records


def write_csv(records, path) -> int:
    """One row per trial: task columns, then :data:`~jumpprocess.scale.batch.SUMMARY_FIELDS`. Returns rows."""
    columns = ["n", "m", "labels", "init", "step_size", "sampling", "chunk", "problem_seed", "task_seed", "trial", *SUMMARY_FIELDS]
    rows = 0
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            task, res = record["task"], record["results"]
            for t in range(task["trials"]):
                writer.writerow([task["n"], task["m"], task["labels"], task["init"], task["step_size"], record["sampling"],
                                 task["chunk"], task["problem_seed"], task["seed"], t, *[res[name][t] for name in SUMMARY_FIELDS]])
                rows += 1
    os.replace(tmp, path)
    return rows


def _grouped(records):
    """(n, m, labels, init, step) -> dict of concatenated per-trial arrays and label counts."""
    groups = {}
    for record in records:
        task = record["task"]
        key = (task["n"], task["m"], task["labels"], task["init"], task["step_size"], record["sampling"])
        entry = groups.setdefault(key, {"n_pos": record["n_pos"], "n_neg": record["n_neg"],
                                        **{name: [] for name in SUMMARY_FIELDS}})
        for name in SUMMARY_FIELDS:
            entry[name].extend(np.nan if v is None else v for v in record["results"][name])
    return {key: {k: (np.asarray(v, dtype=float) if isinstance(v, list) else v) for k, v in entry.items()}
            for key, entry in groups.items()}


def plot_sweep(records, out_dir) -> list[Path]:
    """Figures of a sweep, as PNG files in ``out_dir``; returns their paths.

    * ``interpolation.png``: P(interpolation) against m, one colour per n, with the exact
      curve of spec §7 (for sign-stable inits under gradient flow; the formula is
      :func:`theory.probability.log_interpolation_probability` in log space);
    * ``norm_ratio.png``: mean norm ratio of interpolating trials (spec §8) against n with
      95% confidence intervals, at the largest width swept for each n, and ``1 + √2``;
    * ``jumps.png``: mean number of activations against n, same grouping.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("figures need matplotlib: pip install 'jumpprocess[plot]'") from error
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _grouped(records)
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    series = sorted({(k[0], k[2], k[3], k[4], k[5]) for k in groups})
    for index, (n, labels, init, step, sampling) in enumerate(series):
        keys = sorted(k for k in groups if (k[0], k[2], k[3], k[4], k[5]) == (n, labels, init, step, sampling))
        ms = np.array([k[1] for k in keys])
        freq = np.array([groups[k]["interpolates"].mean() for k in keys])
        count = np.array([groups[k]["interpolates"].size for k in keys])
        err = 1.96 * np.sqrt(np.maximum(freq * (1 - freq), 1e-12) / count)
        colour = f"C{index % 10}"
        ax.errorbar(ms, freq, yerr=err, fmt="o", color=colour, ms=3, label=f"n={n} {labels} {init}")
        if init in ("balanced", "output-dominated") and step is None:
            from theory.probability import log_interpolation_probability

            grid = np.arange(max(1, ms.min() - 2), ms.max() + 3)
            first = groups[keys[0]]
            exact = [math.exp(log_interpolation_probability(int(g), int(first["n_pos"]), int(first["n_neg"]))) for g in grid]
            ax.plot(grid, exact, "-", color=colour, lw=1)
    ax.set_xlabel("width m")
    ax.set_ylabel("P(interpolation)")
    ax.set_title("interpolation: simulation (dots, 95% CI) vs exact §7 (lines)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    paths.append(out_dir / "interpolation.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    for name, field, ylabel in (("norm_ratio.png", "norm_ratio", "squared norm / minimal (interpolating trials)"),
                                ("jumps.png", "num_jumps", "number of activations")):
        fig, ax = plt.subplots(figsize=(6, 4))
        lines = sorted({(k[2], k[3], k[4], k[5]) for k in groups})
        for index, line in enumerate(lines):
            ns = sorted({k[0] for k in groups if (k[2], k[3], k[4], k[5]) == line})
            means, errs = [], []
            for n in ns:
                m = max(k[1] for k in groups if k[0] == n and (k[2], k[3], k[4], k[5]) == line)
                entry = groups[(n, m, *line)]
                values = entry[field][entry["interpolates"] > 0] if field == "norm_ratio" else entry[field]
                means.append(values.mean() if values.size else np.nan)
                errs.append(1.96 * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan)
            ax.errorbar(ns, means, yerr=errs, fmt="o-", ms=3, capsize=2, color=f"C{index % 10}", label=" ".join(map(str, line[:2])))
        if field == "norm_ratio":
            ax.axhline(1 + math.sqrt(2), color="k", ls="--", lw=0.8, label="1 + √2")
        ax.set_xscale("log")
        ax.set_xlabel("n (largest swept m per n)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(out_dir / name)
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "sweep", help="resumable Monte Carlo sweep over n, m, labels and inits",
        description="Run simulate_many over a grid; results are appended to OUTPUT/results.jsonl "
                    "(an interrupted sweep resumes where it stopped), with OUTPUT/results.csv and figures.",
    )
    parser.add_argument("--n", type=int, nargs="+", required=True, help="sample sizes, e.g. --n 100 1000 10000")
    parser.add_argument("--m", nargs="+", default=["auto"], help="widths, or 'auto' = round(4 log2 n) (default auto)")
    parser.add_argument("--labels", nargs="+", default=["sign-balanced"], choices=[k.value for k in LabelKind],
                        help="label laws to sweep (default sign-balanced: exactly balanced ±1)")
    parser.add_argument("--init", nargs="+", default=["balanced"], choices=[k.value for k in InitKind],
                        help="initialization laws to sweep (spec §3; default balanced)")
    parser.add_argument("--trials", type=int, default=1000, help="trials per grid point (default 1000)")
    parser.add_argument("--chunk", type=int, default=1000, help="trials per task (the unit of resumption)")
    parser.add_argument("--seed", type=int, default=0,
                        help="root seed; every trial's own seed is derived from it and recorded (default 0)")
    parser.add_argument("--step-size", type=float, default=None, help="gradient-descent step (default: gradient flow)")
    parser.add_argument("--sampling", default="auto", choices=["auto", "weights", "pattern"],
                        help="'pattern' draws the sign-stable activation pattern from its law (fair signs and "
                             "bits), 'weights' draws Gaussian weights; auto = pattern where valid")
    parser.add_argument("--output", default="out/sweep", help="output directory")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (default: local processes)")
    parser.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Execute ``jumpprocess sweep`` from parsed arguments; returns the exit code."""
    ms = [m if m == "auto" else int(m) for m in args.m]
    tasks = sweep_tasks(args.n, ms, args.labels, args.init, trials=args.trials, chunk=args.chunk, seed=args.seed,
                        step_size=args.step_size, sampling=args.sampling)
    records = run_sweep(tasks, args.output, scheduler=args.scheduler, workers=args.workers, progress=not args.no_progress)
    wanted = {task.key for task in tasks}
    print(f"{sum(r['key'] in wanted for r in records)}/{len(tasks)} tasks in {Path(args.output) / RESULTS_NAME}")
    if not args.no_figures:
        for path in plot_sweep([r for r in records if r["key"] in wanted], args.output):
            print(f"figure: {path}")
    return 0
