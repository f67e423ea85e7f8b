"""Checks the command line makes before any work: option values, output paths, memory.

Every subcommand (``simulate``, ``theory``, ``validate``, ``sweep``) parses its numbers
with the argparse types below, so a bad value is a usage error naming the option
(``argument --seed: expected a non-negative integer, got '-1'``, exit status 2) before
anything is computed. Output paths are checked (and output folders created) before the
work whose result they will hold, and :func:`check_memory` refuses a run whose arrays
cannot fit in the memory available, with the estimate.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

__all__ = [
    "integer",
    "real",
    "number_list",
    "width_or_auto",
    "check_output_file",
    "prepare_output_dir",
    "available_memory",
    "check_memory",
    "format_bytes",
]


def integer(minimum: int = 0, maximum: int | None = None):
    """An argparse ``type``: an integer in ``[minimum, maximum]``.

    Examples
    --------
    >>> integer(0)("3")
    3
    >>> integer(0)("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a non-negative integer, got '-1'
    """
    if minimum == 0 and maximum is None:
        expected = "a non-negative integer"
    elif minimum == 1 and maximum is None:
        expected = "a positive integer"
    elif maximum is None:
        expected = f"an integer >= {minimum}"
    else:
        expected = f"an integer in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
         what: str | None = None):
    """An argparse ``type``: a finite float in the interval given (``None``: unbounded).

    Examples
    --------
    >>> real(0.0, low_open=True)("0.5")
    0.5
    >>> real(0.0, 1.0, low_open=True, high_open=True)("1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a finite number in (0, 1), got '1'
    """
    if what is None:
        if low is not None and high is not None:
            what = f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            what = f"a finite number {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            what = f"a finite number {'<' if high_open else '<='} {high:g}"
        else:
            what = "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        bad = not math.isfinite(value)
        if low is not None:
            bad |= value <= low if low_open else value < low
        if high is not None:
            bad |= value >= high if high_open else value > high
        if bad:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "real"
    return parse


def number_list(text: str) -> list:
    """An argparse ``type``: a comma-separated list of numbers, no empty entries.

    Examples
    --------
    >>> number_list("1e-2, 1e-8")
    [0.01, 1e-08]
    >>> number_list("1e-3,,1e-5")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a comma-separated list of numbers, got '1e-3,,1e-5' (entry 2 is empty)
    """
    parts = [part.strip() for part in text.split(",")]
    values = []
    for index, part in enumerate(parts, start=1):
        if not part:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of numbers, got {text!r} (entry {index} is empty)")
        try:
            values.append(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of numbers, got {text!r} ({part!r} is not a number)") from None
    return values


def width_or_auto(text: str):
    """An argparse ``type``: ``"auto"`` or a non-negative integer (a width ``m``)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a non-negative integer, got {text!r}")
    return value


def _probe_writable(folder: Path, option: str, shown) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(f"{option} {shown}: cannot write in the folder {str(folder)!r} ({error.strerror or error})") from None


def check_output_file(path, option: str) -> Path:
    """Refuse, before any work, an output file that could not be written.

    The file's folder must exist and accept a new file; the path must not be a folder.

    Raises
    ------
    ValueError
        Naming the option and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {str(path)!r}: is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"{option} {str(path)!r}: the folder {str(folder)!r} {what}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {str(path)!r}: the file exists and is not writable")
    _probe_writable(folder, option, repr(str(path)))
    return path


def prepare_output_dir(path, option: str) -> Path:
    """Create an output folder (and its parents) now, and check that it is writable.

    Raises
    ------
    ValueError
        The path names a file, or the folder cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {str(path)!r}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{option} {str(path)!r}: cannot create the folder ({error.strerror or error})") from None
    _probe_writable(path, option, repr(str(path)))
    return path


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``1.5e9`` → ``"1.5 GB"`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count:.3g} {unit}"
        count /= 1000
    return f"{count:.3g} PB"  # pragma: no cover


def check_memory(needed: float, what: str, advice: str, available: int | None = None) -> None:
    """Refuse a run whose estimated memory ``needed`` (bytes) exceeds what is available.

    Raises
    ------
    ValueError
        With the estimate, what dominates it (``what``), the memory available and
        ``advice``.
    """
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        raise ValueError(
            f"this run needs about {format_bytes(needed)} of memory ({what}) but {format_bytes(available)} "
            f"is available; {advice}"
        )
