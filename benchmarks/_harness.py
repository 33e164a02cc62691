"""Shared helpers of the apexrl benchmark scripts (``benchmarks/*.py``).

Every script measures apexrl and a peer library side by side in one process run, prints a
small table, ends with exactly one line

    RESULT <name> apexrl=<x> peer=<y> ratio=<r> unit=<unit>

and writes ``benchmarks/results/<name>.json`` (``<name>.quick.json`` for ``--quick`` runs,
so a smoke run never overwrites a full one) with the figures, the peer's name and version,
the machine, the git commit, the date, the quick flag and the exact command.

Import from a script with ``sys.path.insert(0, os.path.dirname(__file__))`` then
``import _harness``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


#: load average when the harness was imported (= when the benchmark started)
LOADAVG_AT_START = _loadavg()

#: ``RESULT <name> apexrl=<x> peer=<y> ratio=<r> unit=<unit>``; numbers may be ``inf``/``nan``.
RESULT_RE = re.compile(
    r"^RESULT (?P<name>[A-Za-z0-9_.-]+) apexrl=(?P<apexrl>\S+) peer=(?P<peer>\S+) "
    r"ratio=(?P<ratio>\S+) unit=(?P<unit>[A-Za-z0-9_/.-]+)$"
)


# --------------------------------------------------------------------------- command line
def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The common command line: ``--quick`` (smoke mode: small sizes, < 2 minutes).

    Args:
        description: the script's one-paragraph description (shown by ``--help``).
        argv: arguments (default ``sys.argv[1:]``).
        extra: called with the parser to add script-specific options.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: small sizes, finishes in under 2 minutes; writes <name>.quick.json")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    warn_if_busy()
    return args


def warn_if_busy(threshold: float = 0.5) -> bool:
    """Print a warning when the 1-minute load average says other work is running (timings of a
    2-core machine are unreliable then; multi-threaded torch slows down by an order of magnitude
    when its threads share cores with other processes). Returns whether it warned."""
    load = LOADAVG_AT_START
    if load is None or load[0] <= threshold:
        return False
    print(f"warning: load average {load[0]:.2f} at start (cores: {os.cpu_count()}); other processes are "
          "running, timings will be affected", file=sys.stderr, flush=True)
    return True


def command_line() -> str:
    """The exact command this process was started with, as a shell line (``python <script> ...``)."""
    return shlex.join(["python", *sys.argv])


# --------------------------------------------------------------------------- provenance
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) * 1024 / 2**30, 2)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, CPU model (``/proc/cpuinfo``), RAM in GiB, OS, Python, load average at the time."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    load = _loadavg()
    return {
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "cpu_model": _cpu_model(),
        "ram_gib": _ram_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_1_5_15": load,
        "loadavg_1_5_15_at_start": LOADAVG_AT_START,
    }


def git_commit() -> str | None:
    """``HEAD`` of the repository, or None outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from ``HEAD`` (None outside git)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def iso_date() -> str:
    """Now, ISO 8601 with the UTC offset, seconds precision."""
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def package_version(name: str) -> str | None:
    """Installed version of a distribution (``"stable-baselines3"``, ``"cpprb"``), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of apexrl and the libraries every benchmark depends on."""
    return {name: package_version(name) for name in ("apexrl", "torch", "numpy", "numba", "gymnasium", "ale-py")}


# --------------------------------------------------------------------------- run files
def metrics_rows(path: str | Path, keys: Sequence[str]) -> list[dict[str, float]]:
    """The ``keys`` columns of a run's ``metrics.csv`` as floats, one dict per row. Rows with an
    empty or non-numeric cell in any of them (for example ``loss`` before learning starts) are
    left out; a missing or unreadable file, or a missing column, gives ``[]``."""
    rows = []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    rows.append({k: float(row[k]) for k in keys})
                except (TypeError, ValueError):  # an empty, short or non-numeric row
                    continue
    except (OSError, KeyError):
        return []
    return rows


# --------------------------------------------------------------------------- arithmetic
def ratio(x: float, y: float) -> float:
    """``x / y``, the direction is the caller's: ``ratio(apexrl, peer)`` > 1 means apexrl's figure
    is larger. ``y == 0`` gives ``inf`` (``nan`` when ``x == 0`` too); NaN propagates."""
    x, y = float(x), float(y)
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if y == 0.0:
        if x == 0.0:
            return math.nan
        return math.copysign(math.inf, x)
    return x / y


def median(values: Iterable[float]) -> float:
    """Median; ``inf`` entries count (e.g. runs that never reached a target: the median is
    ``inf`` when half or more of them failed); NaN if empty."""
    v = [float(x) for x in values]
    return statistics.median(v) if v else math.nan


def spread(values: Sequence[float]) -> dict[str, float]:
    """median / min / max / relative half-range of repeated measurements."""
    v = [float(x) for x in values]
    med = statistics.median(v)
    return {"median": med, "min": min(v), "max": max(v),
            "rel_half_range": (max(v) - min(v)) / (2 * med) if med else math.nan, "n": len(v)}


def fmt(x: Any, sig: int = 4) -> str:
    """A number with ``sig`` significant digits and no exponent (``56464``, ``2346``,
    ``0.2345``); integers are printed whole; ``inf``/``nan`` as such; non-numbers via ``str``."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0.0:
        return "0"
    digits = int(math.floor(math.log10(abs(v))))
    decimals = max(0, sig - 1 - digits)
    return f"{v:.{decimals}f}"


# --------------------------------------------------------------------------- timing
def interleaved(fns: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Run each measurement function ``reps`` times, alternating between them and rotating the
    order each repetition, so slow drift (thermal, other jobs) hits every contender alike.

    Each function performs one measurement and returns its figure (e.g. items/s).
    """
    names = list(fns)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        order = names[k:] + names[:k]
        if r % 2 == 1:
            order = order[::-1]
        for name in order:
            out[name].append(float(fns[name]()))
    return out


class Stopwatch:
    """A pausable wall clock (``time.perf_counter``)."""

    def __init__(self, start: bool = True) -> None:
        self._elapsed = 0.0
        self._since: float | None = time.perf_counter() if start else None

    def pause(self) -> None:
        if self._since is not None:
            self._elapsed += time.perf_counter() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    @property
    def elapsed(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._elapsed + running


# --------------------------------------------------------------------------- output
def result_line(name: str, apexrl: float, peer: float, ratio: float, unit: str) -> str:
    """``RESULT <name> apexrl=<x> peer=<y> ratio=<r> unit=<unit>`` (numbers via :func:`fmt`)."""
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"name must be a non-empty word, got {name!r}")
    if not unit or any(c.isspace() for c in unit):
        raise ValueError(f"unit must be a non-empty word, got {unit!r}")
    return f"RESULT {name} apexrl={fmt(apexrl)} peer={fmt(peer)} ratio={fmt(ratio, 3)} unit={unit}"


def parse_result_line(line: str) -> dict[str, Any]:
    """Inverse of :func:`result_line`: ``{"name", "apexrl", "peer", "ratio", "unit"}`` (floats).

    Raises:
        ValueError: the line is not a RESULT line.
    """
    m = RESULT_RE.match(line.strip())
    if m is None:
        raise ValueError(f"not a RESULT line: {line!r}")
    d: dict[str, Any] = m.groupdict()
    for key in ("apexrl", "peer", "ratio"):
        d[key] = float(d[key])
    return d


def result_path(name: str, quick: bool, results_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<results_dir>/<name>.json``, or ``<name>.quick.json`` for quick runs."""
    base = Path(results_dir) if results_dir is not None else RESULTS_DIR
    return base / (f"{name}.quick.json" if quick else f"{name}.json")


def _jsonable(x: Any) -> Any:
    """Plain JSON values; non-finite floats become the strings "inf" / "-inf" / "nan"."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return int(x)
    try:
        import numpy as np

        if isinstance(x, np.generic):
            x = x.item()
            return _jsonable(x)
        if isinstance(x, np.ndarray):
            return _jsonable(x.tolist())
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return str(x)


def write_result(
    name: str,
    figures: dict[str, Any],
    peer: str,
    peer_version: str | None,
    quick: bool,
    *,
    result: dict[str, Any],
    threads: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
    duration_s: float | None = None,
    results_dir: str | os.PathLike[str] | None = None,
    command: str | None = None,
) -> Path:
    """Write the benchmark's JSON record and return its path.

    Args:
        name: benchmark name (file stem).
        figures: every measured number (nested dicts are fine).
        peer: the peer library's name; peer_version: its version.
        quick: whether this was a ``--quick`` run (decides the file name).
        result: the headline: ``apexrl``, ``peer``, ``ratio``, ``unit``, ``ratio_definition``,
            ``better`` (``"higher"`` or ``"lower"``), ``target``.
        threads: thread settings, e.g. ``{"torch_num_threads": 1, "why": "..."}``.
        settings: the sizes and options used.
        notes: free-text caveats.
        duration_s: wall time of the whole script.
        results_dir: override of ``benchmarks/results`` (tests).
        command: override of the recorded command (default: this process's command line).
    """
    missing = {"apexrl", "peer", "ratio", "unit"} - set(result)
    if missing:
        raise ValueError(f"result lacks {sorted(missing)}")
    record = {
        "name": name,
        "quick": bool(quick),
        "result": result,
        "figures": figures,
        "peer": {"name": peer, "version": peer_version},
        "versions": library_versions(),
        "threads": threads or {},
        "settings": settings or {},
        "notes": list(notes),
        "machine": machine_info(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "date": iso_date(),
        "command": command if command is not None else command_line(),
        "cwd": os.getcwd(),
        "duration_s": duration_s,
    }
    path = result_path(name, quick, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(_jsonable(record), f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A small table on stdout (rich if installed, plain text otherwise); numbers via :func:`fmt`."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of apexrl
        widths = [max(len(str(c)) for c in col) for col in zip(columns, *cells)]
        print(title)
        print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
        for row in cells:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        return
    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if i == 0 else "right")
    for row in cells:
        table.add_row(*row)
    Console(width=max(100, 20 * len(columns))).print(table)


def finish(name: str, result: dict[str, Any], **write_kwargs: Any) -> str:
    """Write the JSON (:func:`write_result` with ``result``), say where, then print and return the
    RESULT line built from ``result["apexrl"|"peer"|"ratio"|"unit"]`` (the script's last line)."""
    path = write_result(name, result=result, **write_kwargs)
    try:
        shown: Path = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"wrote {shown}")
    line = result_line(name, result["apexrl"], result["peer"], result["ratio"], result["unit"])
    print(line, flush=True)
    return line
