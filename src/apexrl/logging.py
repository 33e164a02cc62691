"""Metrics: ``metrics.csv`` rows, TensorBoard scalars and a live progress bar (rich).

Metric names are grouped ``actor/…``, ``learner/…``, ``replay/…``, ``eval/…``. The CSV has
one row per log interval with fixed columns (:data:`CSV_COLUMNS`); an empty cell means "no
value in this interval" (for example no evaluation finished).
"""

from __future__ import annotations

import csv
import math
import os
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

CSV_COLUMNS = (
    "env_frames",
    "env_steps",
    "learner_steps",
    "wall_s",
    "episode_return",
    "eval_return",
    "env_frames_per_s",
    "learner_steps_per_s",
    "replay_size",
    "episodes",
    "loss",
    "td_abs_mean",
    "q_mean",
    "learning_rate",
    "actor_restarts",
    "checkpoint_errors",
)
"""Columns of ``metrics.csv``, in order."""


class MetricsLogger:
    """Writes rows to ``<run_dir>/metrics.csv`` and, if asked, TensorBoard event files.

    Args:
        run_dir: existing directory.
        tensorboard: also write TensorBoard scalars (step = ``env_frames``).
        progress_total: total ``env_frames`` for the progress bar; ``None`` hides it.
        log_interval_s: seconds between rows, for the progress lines written outside a terminal.
        append: append to an existing ``metrics.csv`` instead of starting a new one.
    """

    def __init__(self, run_dir: str, *, tensorboard: bool = True, progress_total: int | None = None,
                 append: bool = False, log_interval_s: float = 5.0) -> None:
        path = os.path.join(run_dir, "metrics.csv")
        exists = append and os.path.exists(path)
        if exists:
            _upgrade_header(path)
        self._file = open(path, "a" if exists else "w", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        if not exists:
            self._csv.writeheader()
            self._file.flush()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=run_dir)
        self._progress = ProgressBar(progress_total, log_interval_s) if progress_total is not None else None

    def log(self, row: dict[str, Any], scalars: dict[str, float] | None = None) -> None:
        """Write one CSV row (keys of :data:`CSV_COLUMNS`) and TensorBoard scalars."""
        clean = {k: _fmt(row.get(k)) for k in CSV_COLUMNS}
        self._csv.writerow(clean)
        self._file.flush()
        step = int(row.get("env_frames", 0))
        if self._tb is not None:
            for key, value in (scalars or {}).items():
                if value is not None and math.isfinite(float(value)):
                    self._tb.add_scalar(key, float(value), step)
            self._tb.flush()
        if self._progress is not None:
            self._progress.update(row, line=True)

    def progress(self, row: dict[str, Any]) -> None:
        """Refresh the progress bar from a row (no file output; no plain progress line)."""
        if self._progress is not None:
            self._progress.update(row, line=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        self._file.close()


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


class ProgressBar:
    """Training progress: frames done of ``total``, frames/s, learner updates/s, the mean training
    episode return, the last evaluation, elapsed time and ETA. Fed with metric rows (or snapshots
    with the same keys).

    In a terminal (rich's :attr:`rich.console.Console.is_terminal`, which honours ``FORCE_COLOR``
    and ``TTY_COMPATIBLE``) this is rich's live bar, coloured unless ``NO_COLOR`` is set. Anywhere
    else (a file, a pipe, ``nohup``, CI) and on a dumb terminal (``TERM=dumb``) it prints one plain
    line (:func:`progress_line`) per ``interval_s`` seconds and a last one on :meth:`close`.

    Args:
        total: the frame budget (``env_frames``).
        interval_s: seconds between plain lines (the run's ``--log-interval-s``).
        console: where to write (default: standard output).
    """

    def __init__(self, total: int, interval_s: float = 5.0, console: Console | None = None) -> None:
        self._console = console or Console()
        self.total = total
        self.interval_s = interval_s
        self.live = self._console.is_terminal and not self._console.is_dumb_terminal
        self._start = time.monotonic()
        self._last_line: float | None = None
        self._last_row: dict[str, Any] | None = None
        self._printed_row: dict[str, Any] | None = None
        self._first_frames: int | None = None
        self._origin: tuple[float, int] | None = None
        if not self.live:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} frames"),
            TextColumn("{task.fields[fps]:>7,.0f} frames/s"),
            TextColumn("{task.fields[lps]:>6,.1f} updates/s"),
            TextColumn("return {task.fields[ret]}"),
            TextColumn("eval {task.fields[ev]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._task = self._bar.add_task("train", total=total, fps=0.0, lps=0.0, ret="-", ev="-")
        self._bar.start()

    def update(self, row: dict[str, Any], line: bool | None = None) -> None:
        """Show ``row`` (keys ``env_frames``, ``env_frames_per_s``, ``learner_steps_per_s``,
        ``episode_return``, ``eval_return``; missing ones show as ``-``).

        ``line`` (plain output only): ``True`` prints a line now (a ``metrics.csv`` row), ``False``
        never, ``None`` when ``interval_s`` has passed since the last line.
        """
        if not row:
            return
        frames = int(row.get("env_frames", 0))
        if self._first_frames is None:
            self._first_frames = frames
        row = dict(row)
        if row.get("eval_return") is None and self._last_row is not None:
            row["eval_return"] = self._last_row.get("eval_return")  # the last evaluation stays shown
        self._last_row = row
        if not self.live:
            now = time.monotonic()
            due = self._last_line is None or now - self._last_line >= self.interval_s
            if line or (line is None and due):
                self._print(row, now)
            return
        ret, ev = row.get("episode_return"), row.get("eval_return")
        self._bar.update(
            self._task,
            completed=frames,
            fps=float(row.get("env_frames_per_s") or 0.0),
            lps=float(row.get("learner_steps_per_s") or 0.0),
            ret="-" if ret is None else f"{ret:.1f}",
            ev="-" if ev is None else f"{ev:.1f}",
        )

    def _print(self, row: dict[str, Any], now: float) -> None:
        elapsed = now - self._start
        frames = int(row.get("env_frames", 0))
        eta = None  # from the mean rate since frames first came in (actors' start-up left out)
        if self._origin is None and frames > (self._first_frames or 0):
            self._origin = (now, frames)
        elif self._origin is not None and frames > self._origin[1] and now > self._origin[0]:
            eta = max(self.total - frames, 0) * (now - self._origin[0]) / (frames - self._origin[1])
        self._console.out(progress_line(row, self.total, elapsed, eta), highlight=False)
        self._console.file.flush()
        self._last_line, self._printed_row = now, row

    def close(self) -> None:
        """Stop the live bar, or print the last plain line if it was not printed yet."""
        if self.live:
            self._bar.stop()
        elif self._last_row is not None and self._last_row is not self._printed_row:
            self._print(self._last_row, time.monotonic())


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_line(row: dict[str, Any], total: int, elapsed_s: float, eta_s: float | None) -> str:
    """One plain progress line, e.g. ``train 12,000/100,000 frames (12%) | 1,610 frames/s |
    349.8 updates/s | return 27.3 | eval 500.0 | elapsed 0:00:07 | ETA 0:00:52``.

    ``row`` has the keys of a ``metrics.csv`` row; a missing or ``None`` return or evaluation shows
    as ``-``; ``elapsed_s`` and ``eta_s`` are seconds (``None``: unknown).
    """
    frames = int(row.get("env_frames", 0))
    ret, ev = row.get("episode_return"), row.get("eval_return")
    return (f"train {frames:,}/{total:,} frames ({100.0 * frames / total:.0f}%) | "
            f"{float(row.get('env_frames_per_s') or 0.0):,.0f} frames/s | "
            f"{float(row.get('learner_steps_per_s') or 0.0):,.1f} updates/s | "
            f"return {'-' if ret is None else f'{float(ret):.1f}'} | eval {'-' if ev is None else f'{float(ev):.1f}'} | "
            f"elapsed {_clock(elapsed_s)} | ETA {_clock(eta_s)}")


def _upgrade_header(path: str) -> None:
    """Rewrite ``metrics.csv`` under today's :data:`CSV_COLUMNS` when it was written with other
    columns (a run from an older version being resumed), so appended rows match the header;
    old rows keep their values and get empty cells in new columns. Atomic (``os.replace``)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) == CSV_COLUMNS:
            return
        rows = list(reader)
    _rewrite_csv(path, CSV_COLUMNS, rows)


def _rewrite_csv(path: str, fields: Any, rows: Any) -> None:
    """Replace the CSV file ``path`` with ``rows`` under the header ``fields``, atomically (a
    temporary file, fsynced, then ``os.replace``): a crash leaves the old file or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cut_metrics_to_checkpoint(run_dir: str, env_frames: int, learner_steps: int) -> str | None:
    """Before a resume: move the rows of ``metrics.csv`` logged after the checkpoint to a side file.

    A run killed (SIGKILL, power loss) after its last checkpoint has logged rows the resumed
    run will log again from the checkpoint's counters; left in place, ``env_frames`` would go
    back and the curve zigzag. Rows with ``env_frames > env_frames`` or ``learner_steps >
    learner_steps`` are appended to ``metrics.after-ckpt-<learner_steps>.csv`` (same columns,
    nothing is lost) and ``metrics.csv`` keeps the rows up to the checkpoint, rewritten
    atomically (temporary file, ``os.replace``). The curve then has one row per point of the
    resumed timeline.

    Args:
        run_dir: the run directory.
        env_frames: the checkpoint's emulator frames (``env_steps`` × frame skip).
        learner_steps: the checkpoint's learner steps.

    Returns:
        The side file's path, or ``None`` when no row was beyond the checkpoint (or there is no
        ``metrics.csv``); then nothing is written.
    """
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or list(CSV_COLUMNS)
        rows = list(reader)

    def beyond(row: dict[str, str]) -> bool:
        frames, steps = row.get("env_frames") or "0", row.get("learner_steps") or "0"
        return int(float(frames)) > env_frames or int(float(steps)) > learner_steps

    later = [r for r in rows if beyond(r)]
    if not later:
        return None
    side = os.path.join(run_dir, f"metrics.after-ckpt-{learner_steps}.csv")
    new = not os.path.exists(side)
    with open(side, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(later)
        f.flush()
        os.fsync(f.fileno())
    _rewrite_csv(path, fields, [r for r in rows if not beyond(r)])
    return side
