"""Resumable parameter sweeps of :func:`~jumpprocess.scale.batch.simulate_many`.

docs/math/probability.rst, docs/math/implicit-bias.rst.

A sweep is a grid of ``n`` (samples), ``m`` (width; ``"auto"`` = ``round(4 log2 n)``),
label kinds and init kinds, with ``trials`` initializations per grid point split into
chunks of ``chunk`` trials. Each ``(n, m, labels, init, chunk)`` is one *task* with its
own seed, derived from the sweep seed by ``numpy.random.SeedSequence``; every trial's
own seed (:func:`~jumpprocess.scale.batch.trial_seeds` of the task seed) is recorded, so any
trial can be re-run alone with ``simulate``.

Identity. A record is identified by every parameter that changes its results: ``n``,
``m``, label and init kinds, step size, sampling, chunk index, chunk seed, problem seed
and the *range of trials* ``[start, start + trials)`` of the chunk it holds. The trial
seeds of a chunk are prefix-stable, so growing ``trials`` (or ``chunk``) only adds the
missing ranges: a chunk recorded with 100 trials and now wanted with 300 gets one more
record for trials 100–299, equal to what an uninterrupted 300-trial run computes.

Persistence. Results go to an append-only JSON-lines file, one line per completed task,
written by the driver alone (never by workers) and made durable with ``flush`` +
``fsync`` before the next one. On restart, the trial ranges already in the file are
skipped. A line that is not a complete record (a writer killed mid-line) is *torn*: it
is reported with its file and line number (:class:`TornLineWarning`) and moved to
``results.jsonl.torn``; complete records written after it on the same line are kept.
Nothing written is lost and no trial is written twice. While a sweep runs, it holds an
exclusive lock on ``OUTPUT/results.jsonl.lock`` (``fcntl``; the file names the holder's
pid, host and start time): a second sweep on the same output refuses to start
(:class:`OutputInUse`) instead of computing every task twice. ``results.csv`` (one row
per trial) and the figures are derived from the JSON lines.

Execution. Locally a sweep uses all cores by default (a ``ProcessPoolExecutor`` with the
``spawn`` start method, one compiled-kernel thread per process); the workers die with the
sweep (Linux: ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread polling the parent
pid), so a killed sweep leaves no process behind. Given a scheduler address it runs on
that Dask cluster through ``dask.distributed.Client``, after checking within seconds
that the scheduler can be reached.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import socket
import threading
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..setting.initialization import InitKind
from ..setting.problem import LabelKind, make_problem
from .batch import SUMMARY_FIELDS, simulate_many

__all__ = [
    "SweepTask",
    "OutputInUse",
    "TornLineWarning",
    "auto_width",
    "sweep_tasks",
    "run_task",
    "run_sweep",
    "check_scheduler",
    "load_results",
    "select_records",
    "write_csv",
    "plot_sweep",
    "sweep_figures",
    "add_parser",
    "run",
]

RESULTS_NAME = "results.jsonl"
CSV_NAME = "results.csv"
LOCK_SUFFIX = ".lock"
TORN_SUFFIX = ".torn"
#: Seconds allowed to reach a Dask scheduler before the sweep refuses to start.
SCHEDULER_TIMEOUT = 5.0


class OutputInUse(RuntimeError):
    """Another sweep holds the lock on this output (the message says which process)."""


class TornLineWarning(UserWarning):
    """A line of a results file that is not a complete record (file and line number given)."""


def auto_width(n: int) -> int:
    """The studies' default width ``m = round(4 log2 n)`` (docs/math/implicit-bias.rst), at least 1."""
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
        Trials in this task: trials ``start … start + trials − 1`` of the chunk.
    seed : int
        Root seed of :func:`simulate_many` for this chunk.
    problem_seed : int
        Seed of ``make_problem(n, labels, seed=problem_seed)``, shared by the grid point.
    step_size : float or None
    sampling : str
    start : int
        First trial of the chunk held by this task (0 unless the chunk grew, module notes).
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
    start: int = 0

    @property
    def key(self) -> str:
        """Identity of the task in a results file: every parameter that changes its results."""
        step = "flow" if self.step_size is None else repr(float(self.step_size))
        return (f"n={self.n}|m={self.m}|labels={self.labels}|init={self.init}|step={step}|sampling={self.sampling}"
                f"|chunk={self.chunk}|trials={self.start}:{self.start + self.trials}|seed={self.seed}"
                f"|problem_seed={self.problem_seed}")


def _identity(task: dict) -> tuple:
    """What a chunk's trials depend on (all but the trial range), from a task or its dict."""
    step = task.get("step_size")
    return (int(task["n"]), int(task["m"]), task["labels"], task["init"], None if step is None else float(step),
            task.get("sampling", "auto"), int(task["chunk"]), int(task["seed"]), int(task["problem_seed"]))


def _trial_range(task: dict) -> tuple:
    start = int(task.get("start", 0))
    return start, start + int(task["trials"])


def _missing_ranges(wanted: tuple, covered: list) -> list:
    """Parts of ``[low, high)`` not covered by the (start, stop) ranges in ``covered``."""
    low, high = wanted
    missing, position = [], low
    for start, stop in sorted(covered):
        if stop <= position or start >= high:
            continue
        if start > position:
            missing.append((position, min(start, high)))
        position = max(position, stop)
        if position >= high:
            break
    if position < high:
        missing.append((position, high))
    return missing


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
                            step_size=task.step_size, sampling=task.sampling, first_trial=task.start)
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


def _parse_line(raw: bytes):
    """``(records, torn)`` of one line: its complete records, and the torn fragment (or b"").

    A writer killed mid-line leaves a fragment that the next append continues on the same
    line: every record starts with ``{"key": ``, so the complete records after the
    fragment are recovered and only the fragment is torn.
    """
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if isinstance(record, dict) and "key" in record and "task" in record:
        return [record], b""
    marker = b'{"key": '
    position = raw.find(marker, 1)
    while position != -1:
        tail_records, tail_torn = _parse_line(raw[position:])
        if tail_records and not tail_torn:
            return tail_records, raw[:position]
        position = raw.find(marker, position + 1)
    return [], raw


def load_results(path, *, repair: bool = False) -> list[dict]:
    """Records of a results file, first occurrence of each key, in file order.

    A line that is not a complete record (an interrupted or concurrent write) is torn: it
    is reported with a :class:`TornLineWarning` naming the file and line number, and
    skipped. With ``repair`` the file is rewritten without it (atomically) and the torn
    bytes are appended to ``results.jsonl.torn`` next to it, so that appending resumes
    on a clean line and nothing is thrown away; complete records sharing the line with a
    torn fragment are kept.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records, seen, torn, kept = [], set(), [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        line_records, fragment = _parse_line(raw)
        if fragment:
            torn.append((number, fragment))
        for record in line_records:
            kept.append(json.dumps(record, allow_nan=False).encode() if fragment else raw)
            record = _upgrade(record)
            if record["key"] not in seen:
                seen.add(record["key"])
                records.append(record)
    unterminated = bool(data) and not data.endswith(b"\n")
    torn_path = path.with_name(path.name + TORN_SUFFIX)
    for number, fragment in torn:
        where = "the last line, unterminated" if unterminated and number == len(lines) else "not a complete record"
        action = f"moved to {torn_path}" if repair else "skipped"
        warnings.warn(f"{path} line {number}: torn record ({len(fragment)} bytes, {where}); {action}",
                      TornLineWarning, stacklevel=2)
    if repair and (torn or unterminated):
        if torn:
            with open(torn_path, "ab") as handle:
                for number, fragment in torn:
                    handle.write(fragment + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(b"".join(line + b"\n" for line in kept))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    return records


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(descriptor)


def select_records(records, tasks) -> list[dict]:
    """The records (trial ranges sliced to fit) that make up exactly ``tasks``' trials.

    A record may hold more trials of a chunk than the tasks want (an earlier, larger
    sweep): it is cut to the wanted range. Records of other grid points are left out.
    """
    wanted = {}
    for task in tasks:
        wanted.setdefault(_identity(asdict(task)), []).append(_trial_range(asdict(task)))
    out = []
    for record in records:
        ranges = wanted.get(_identity(record["task"]))
        if not ranges:
            continue
        start, stop = _trial_range(record["task"])
        for low, high in ranges:
            first, last = max(start, low), min(stop, high)
            if first >= last:
                continue
            if (first, last) == (start, stop):
                out.append(record)
                continue
            task = {**record["task"], "start": first, "trials": last - first}
            results = {name: values[first - start:last - start] for name, values in record["results"].items()}
            out.append({**record, "key": SweepTask(**task).key, "task": task, "results": results})
    return out


def _pending(tasks, records) -> list:
    """The tasks (with their missing trial ranges) that the records do not cover yet."""
    covered = {}
    for record in records:
        covered.setdefault(_identity(record["task"]), []).append(_trial_range(record["task"]))
    pending = []
    for task in tasks:
        for low, high in _missing_ranges(_trial_range(asdict(task)), covered.get(_identity(asdict(task)), [])):
            pending.append(replace(task, start=low, trials=high - low))
    return pending


def _upgrade(record: dict) -> dict:
    """A record written by an earlier version, in the current meaning of the summary fields.

    Before ``identical_ties`` existed, ``ambiguous`` meant "some overlapping tie" (identical
    remaining sets included); it now means "the function is not determined" (docs/math/ties.rst),
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


class _OutputLock:
    """An exclusive ``fcntl`` lock on ``OUTPUT/results.jsonl.lock`` naming its holder.

    The lock belongs to the open file description, so the kernel releases it when the
    holder exits, however it exits (a ``kill -9`` included): a stale lock file never
    blocks. Where ``fcntl`` does not exist (Windows) there is no lock.
    """

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that did not say who it is"
            handle.close()
            raise OutputInUse(
                f"the sweep output {str(self.path.parent)!r} is in use by another sweep ({holder}); wait for it to "
                f"finish, stop it, or give another output folder (lock file {self.path})"
            ) from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()  # the lock file names a holder only while one holds it
            self.handle.close()  # releases the lock
            self.handle = None
        return False


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when the sweep that started it ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    everywhere a daemon thread checks once a second that the parent is still the same
    process. A parent that died before this ran is caught by the first check.
    """
    import sys

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass

    def watch():
        import time

        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(1.0)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="jumpprocess-parent-watch", daemon=True).start()


def _local_results(pending, workers: int):
    """Yield (task, record) as tasks finish in a pool of ``workers`` spawned processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_task, task, 1): task for task in pending}
        try:
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    yield futures.pop(future), future.result()
        finally:
            for future in futures:
                future.cancel()


def check_scheduler(address, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse, within ``timeout`` seconds, a ``tcp://host:port`` Dask scheduler that cannot be reached.

    Raises
    ------
    ValueError
        The address is malformed or nothing accepts a connection there.
    """
    if not isinstance(address, str) or "://" not in address:
        return  # a Client object, or an address form only dask understands
    scheme, _, rest = address.partition("://")
    if scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rstrip("/").rpartition(":")
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: expected {scheme}://host:port") from None
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", port_number), timeout=timeout):
            pass
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {reason} (connect timeout {timeout:g} s)") from None


def _dask_results(pending, scheduler):
    """Yield (task, record) as tasks finish on the Dask cluster at ``scheduler``."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError as error:
        raise ImportError("running on a Dask cluster needs dask.distributed: pip install 'jumpprocess[scale]'") from error
    if not isinstance(scheduler, Client):
        check_scheduler(scheduler)
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout=3 * SCHEDULER_TIMEOUT)
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
        Every record in the results file, including those of earlier runs
        (:func:`select_records` keeps exactly the trials of ``tasks``).

    Raises
    ------
    OutputInUse
        Another sweep is running on ``output`` (the message names its pid and host).
    ValueError
        Duplicate tasks, ``workers < 1``, an unreachable scheduler.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / RESULTS_NAME
    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("the sweep has duplicate tasks (same key twice)")
    if scheduler is None:
        workers = (os.cpu_count() or 1) if workers is None else int(workers)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
    with _OutputLock(output / (RESULTS_NAME + LOCK_SUFFIX)):
        pending = _pending(tasks, load_results(path, repair=True))
        bar = None
        if progress:
            try:
                from tqdm.auto import tqdm

                total = sum(task.trials for task in tasks)
                bar = tqdm(total=total, initial=total - sum(task.trials for task in pending), unit="trial", desc="sweep")
            except ImportError:
                bar = None
        if scheduler is not None:
            results = _dask_results(pending, scheduler)
        elif workers == 1 or len(pending) <= 1:
            results = ((task, run_task(task)) for task in pending)
        else:
            results = _local_results(pending, workers)
        try:
            with open(path, "a", encoding="utf-8") as handle:
                for task, record in results:
                    _append(handle, record)
                    if bar is not None:
                        bar.update(task.trials)
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
    """One row per trial: task columns, then :data:`~jumpprocess.scale.batch.SUMMARY_FIELDS`. Returns rows.

    ``trial`` is the trial's index within its chunk (its seed is the chunk's
    ``trial_seeds(task_seed, trial + 1)[trial]``).
    """
    columns = ["n", "m", "labels", "init", "step_size", "sampling", "chunk", "problem_seed", "task_seed", "trial", *SUMMARY_FIELDS]
    rows = 0
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            task, res = record["task"], record["results"]
            start = int(task.get("start", 0))
            for t in range(task["trials"]):
                writer.writerow([task["n"], task["m"], task["labels"], task["init"], task["step_size"], record["sampling"],
                                 task["chunk"], task["problem_seed"], task["seed"], start + t,
                                 *[res.get(name, [None] * task["trials"])[t] for name in SUMMARY_FIELDS]])
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
    """The figures of :func:`sweep_figures` as PNG files in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in sweep_figures(records).items():
        paths.append(out_dir / name)
        figure.savefig(paths[-1], dpi=120)
    return paths


def sweep_figures(records) -> dict:
    """Figures of a sweep, by file name (matplotlib Figures, empty without records).

    * ``interpolation.png``: P(interpolation) against m, one series per n (and per label
      law, init or step when several were swept), with the exact curve of
      docs/math/probability.rst for sign-stable inits under gradient flow
      (:func:`theory.probability.log_interpolation_probability`, in log space);
    * ``norm_ratio.png``: mean norm ratio of interpolating trials (docs/math/implicit-bias.rst)
      against n with 95% confidence intervals, one series per m, and ``1 + √2``;
    * ``jumps.png``: mean number of activations against n, one series per m.

    Titles give what is common to every series (labels, init, dynamics, sampling, trials);
    legends give only what differs. Figures are made without pyplot (the backend is left
    as it is).
    """
    from ..plotting import new_figure

    groups = _grouped(records)
    if not groups:
        return {}
    names = ("n", "m", "labels", "init", "step", "sampling")
    varying = [i for i in range(len(names)) if len({key[i] for key in groups}) > 1]
    common = _describe({names[i]: next(iter(groups))[i] for i in range(len(names)) if i not in varying})
    counts = sorted({int(entry["interpolates"].size) for entry in groups.values()})
    trials = f"{counts[0]} trials per point" if len(counts) == 1 else f"{counts[0]}–{counts[-1]} trials per point"
    subtitle = f"{common}; {trials}" if common else trials
    figures = {}

    # interpolation against m: one series per everything but m
    series = _series(groups, by=[i for i in varying if i != 1] or [0], x=1)
    figure, ax = new_figure(_width(len(series)), 4.8)
    colors = _palette(len(series))
    width = min(np.diff(sorted({key[1] for key in groups})), default=1.0)
    for index, (label, keys) in enumerate(series):
        ms = np.array([key[1] for key in keys], dtype=float)
        freq = np.array([groups[key]["interpolates"].mean() for key in keys])
        count = np.array([groups[key]["interpolates"].size for key in keys])
        err = 1.96 * np.sqrt(np.maximum(freq * (1 - freq), 1e-12) / count)
        dodge = (index - (len(series) - 1) / 2) * 0.12 * width / max(1, len(series) - 1)
        ax.errorbar(ms + dodge, freq, yerr=err, fmt="o", color=colors[index], ms=4, capsize=2, label=label)
        n, _, _, init, step, _ = keys[0]
        if init in ("balanced", "output-dominated") and step is None:
            from theory.probability import log_interpolation_probability

            grid = np.arange(max(1, int(ms.min()) - 2), int(ms.max()) + 3)
            first = groups[keys[0]]
            exact = [math.exp(log_interpolation_probability(int(g), int(first["n_pos"]), int(first["n_neg"]))) for g in grid]
            ax.plot(grid, exact, "-", color=colors[index], lw=1)
    ax.set_xlabel("width m")
    ax.set_ylabel("P(interpolation)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("P(interpolation) against width: simulation (dots, 95% CI), exact (lines)\n" + subtitle, fontsize=10)
    _legend(ax, len(series))
    figures["interpolation.png"] = figure

    # norm ratio and jumps against n: one series per everything but n (m included)
    for name, field, ylabel, what in (
        ("norm_ratio.png", "norm_ratio", "squared norm / minimal (interpolating trials)",
         "norm ratio of interpolating trials against n (docs/math/implicit-bias.rst)"),
        ("jumps.png", "num_jumps", "mean number of activations", "activations against n"),
    ):
        series = _series(groups, by=[i for i in varying if i != 0] or [1], x=0, always=(1,))
        figure, ax = new_figure(_width(len(series) + 1), 4.8)
        colors = _palette(len(series))
        for index, (label, keys) in enumerate(series):
            ns, means, errs = [], [], []
            empty = [key[0] for key in keys if field == "norm_ratio" and not np.any(groups[key]["interpolates"] > 0)]
            if empty:  # a series point with no interpolating trial has no ratio: say so
                label += f" (no interpolating trial at n = {', '.join(map(str, empty))})"
            for key in keys:
                entry = groups[key]
                values = entry[field][entry["interpolates"] > 0] if field == "norm_ratio" else entry[field]
                values = values[np.isfinite(values)]
                ns.append(key[0])
                means.append(values.mean() if values.size else np.nan)
                errs.append(1.96 * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else np.nan)
            ax.errorbar(ns, means, yerr=errs, fmt="o-", ms=4, capsize=2, color=colors[index], label=label)
        if field == "norm_ratio":
            ax.axhline(1 + math.sqrt(2), color="k", ls="--", lw=0.8, label="1 + √2")
        ax.set_xscale("log")
        ax.set_xlabel("n (samples)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{what}\n{subtitle}", fontsize=10)
        _legend(ax, len(series) + (field == "norm_ratio"))
        figures[name] = figure
    return figures


def _describe(values: dict) -> str:
    """``"labels sign-balanced, init balanced, gradient flow, pattern sampling"`` for the given fields."""
    parts = []
    for name, value in values.items():
        if name == "step":
            parts.append("gradient flow" if value is None else f"gradient descent η = {value:g}")
        elif name == "sampling":
            parts.append(f"{value} sampling")
        else:
            parts.append(f"{name} {value}" if name in ("labels", "init") else f"{name} = {value}")
    return ", ".join(parts)


def _series(groups, by, x, always=()):
    """Series of group keys sorted by position ``x``, one per value of the fields ``by``;
    labelled by those fields (and the fields ``always``, e.g. m, which may vary along n)."""
    names = ("n", "m", "labels", "init", "step", "sampling")
    table = {}
    for key in sorted(groups, key=lambda k: tuple((v is None, v if v is not None else 0) for v in k)):
        table.setdefault(tuple(key[i] for i in by), []).append(key)
    out = []
    for values, keys in table.items():
        keys.sort(key=lambda k: k[x])
        fields = {names[i]: v for i, v in zip(by, values)}
        for i in always:  # e.g. m along n when m follows n (m = auto)
            if i not in by:
                shown = sorted({k[i] for k in keys})
                fields[names[i]] = shown[0] if len(shown) == 1 else ", ".join(map(str, shown))
        out.append((_describe(fields), keys))
    return out


def _width(entries: int) -> float:
    """Figure width: wider when the legend (more than six entries) goes beside the axes."""
    return 11.5 if entries > 6 else 8.5


def _palette(count):
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.9, count)]


def _legend(ax, entries):
    if entries > 6:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize=8, loc="best")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an ``argparse`` subparsers object."""
    from ..cliargs import integer, real, width_or_auto

    parser = subparsers.add_parser(
        "sweep", help="resumable Monte Carlo sweep over n, m, labels and inits",
        description="Run simulate_many over a grid; results are appended to OUTPUT/results.jsonl "
                    "(an interrupted sweep resumes where it stopped; a larger --trials adds only the missing "
                    "trials), with OUTPUT/results.csv and figures. One sweep at a time per OUTPUT (a lock file "
                    "names the running one). Exit status: 0 done, 2 bad input or OUTPUT in use.",
    )
    parser.add_argument("--n", type=integer(1), nargs="+", required=True, help="sample sizes, e.g. --n 100 1000 10000")
    parser.add_argument("--m", type=width_or_auto, nargs="+", default=["auto"],
                        help="widths, or 'auto' = round(4 log2 n) (default auto)")
    parser.add_argument("--labels", nargs="+", default=["sign-balanced"], choices=[k.value for k in LabelKind],
                        help="label laws to sweep (default sign-balanced: exactly balanced ±1)")
    parser.add_argument("--init", nargs="+", default=["balanced"], choices=[k.value for k in InitKind],
                        help="initialization laws to sweep (docs/math/alignment.rst; default balanced)")
    parser.add_argument("--trials", type=integer(1), default=1000, help="trials per grid point (default 1000)")
    parser.add_argument("--chunk", type=integer(1), default=1000, help="trials per task (the unit of resumption)")
    parser.add_argument("--seed", type=integer(0), default=0,
                        help="root seed; every trial's own seed is derived from it and recorded (default 0)")
    parser.add_argument("--step-size", type=real(0.0, low_open=True), default=None,
                        help="gradient-descent step (default: gradient flow)")
    parser.add_argument("--sampling", default="auto", choices=["auto", "weights", "pattern"],
                        help="'pattern' draws the sign-stable activation pattern from its law (fair signs and "
                             "bits), 'weights' draws Gaussian weights; auto = pattern where valid")
    parser.add_argument("--output", default="out/sweep", help="output directory (created if missing)")
    parser.add_argument("--scheduler", default=None,
                        help=f"Dask scheduler address, e.g. tcp://host:8786 (default: local processes); "
                             f"refused within {SCHEDULER_TIMEOUT:g} s if unreachable")
    parser.add_argument("--workers", type=integer(1), default=None, help="local processes (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.set_defaults(func=run)
    return parser


def task_bytes(n: int, m: int, sampling_weights: bool) -> float:
    """Estimated peak memory (bytes) of one task's :func:`simulate_many` in one process.

    The sample-major masks of a chunk of trials (64 MiB, or one trial per core when a
    trial is larger), the problem, and for weights sampling the m × n float64
    preactivations of a trial with their sampling temporaries.
    """
    words = max(1, -(-m // 64))
    masks = 2.0 * max(float(1 << 26), (os.cpu_count() or 1) * 8.0 * n * words)
    return masks + 40.0 * n + (26.0 * m * n if sampling_weights else 0.0)


def run(args) -> int:
    """Execute ``jumpprocess sweep`` from parsed arguments; returns the exit code."""
    import sys

    from ..cliargs import check_memory, prepare_output_dir

    ms = list(args.m)
    tasks = sweep_tasks(args.n, ms, args.labels, args.init, trials=args.trials, chunk=args.chunk, seed=args.seed,
                        step_size=args.step_size, sampling=args.sampling)
    output = prepare_output_dir(args.output, "--output")
    if args.scheduler is not None:
        try:
            check_scheduler(args.scheduler)
        except ValueError as error:
            raise ValueError(f"--scheduler {args.scheduler}: {error}") from None
    else:
        processes = min((os.cpu_count() or 1) if args.workers is None else args.workers, len(tasks))
        weights = args.sampling == "weights" or args.step_size is not None or any(k != "balanced" and k != "output-dominated" for k in args.init)
        worst = max(tasks, key=lambda task: task_bytes(task.n, task.m, weights))
        check_memory(max(1, processes) * task_bytes(worst.n, worst.m, weights),
                     f"{processes} process(es) at n = {worst.n}, m = {worst.m}", "use fewer --workers, a smaller --n or --m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TornLineWarning)
        try:
            records = run_sweep(tasks, output, scheduler=args.scheduler, workers=args.workers,
                                progress=not args.no_progress)
        except OutputInUse as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        finally:
            for warning in caught:
                print(f"warning: {warning.message}", file=sys.stderr)
    chosen = select_records(records, tasks)
    trials = sum(record["task"]["trials"] for record in chosen)
    print(f"{len(tasks)} tasks, {trials}/{sum(task.trials for task in tasks)} trials in {output / RESULTS_NAME}")
    if not args.no_figures:
        for path in plot_sweep(chosen, args.output):
            print(f"figure: {path}")
    return 0
