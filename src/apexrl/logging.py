"""Metrics: ``metrics.csv`` rows, TensorBoard scalars and a live progress bar (rich).

Metric names are grouped ``actor/…``, ``learner/…``, ``replay/…``, ``eval/…``. The CSV has
one row per log interval with fixed columns (:data:`CSV_COLUMNS`); an empty cell means "no
value in this interval" (for example no evaluation finished).
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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
)
"""Columns of ``metrics.csv``, in order."""


class MetricsLogger:
    """Writes rows to ``<run_dir>/metrics.csv`` and, if asked, TensorBoard event files.

    Args:
        run_dir: existing directory.
        tensorboard: also write TensorBoard scalars (step = ``env_frames``).
        progress_total: total ``env_frames`` for the progress bar; ``None`` hides it.
        append: append to an existing ``metrics.csv`` instead of starting a new one.
    """

    def __init__(self, run_dir: str, *, tensorboard: bool = True, progress_total: int | None = None,
                 append: bool = False) -> None:
        path = os.path.join(run_dir, "metrics.csv")
        exists = append and os.path.exists(path)
        self._file = open(path, "a" if exists else "w", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        if not exists:
            self._csv.writeheader()
            self._file.flush()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=run_dir)
        self._progress = ProgressBar(progress_total) if progress_total is not None else None

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
        self.progress(row)

    def progress(self, row: dict[str, Any]) -> None:
        """Refresh the progress bar from a row (no file output)."""
        if self._progress is not None:
            self._progress.update(row)

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
    """The live progress bar (rich): frames done of ``total``, frames/s, learner updates/s, the
    mean training episode return and the last evaluation. Fed with metric rows (or snapshots with
    the same keys)."""

    def __init__(self, total: int) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} frames"),
            TextColumn("{task.fields[fps]:>7,.0f} frames/s"),
            TextColumn("{task.fields[lps]:>6,.1f} updates/s"),
            TextColumn("return {task.fields[ret]}"),
            TextColumn("eval {task.fields[ev]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = self._bar.add_task("train", total=total, fps=0.0, lps=0.0, ret="-", ev="-")
        self._bar.start()

    def update(self, row: dict[str, Any]) -> None:
        if not row:
            return
        ret, ev = row.get("episode_return"), row.get("eval_return")
        self._bar.update(
            self._task,
            completed=int(row.get("env_frames", 0)),
            fps=float(row.get("env_frames_per_s") or 0.0),
            lps=float(row.get("learner_steps_per_s") or 0.0),
            ret="-" if ret is None else f"{ret:.1f}",
            ev="-" if ev is None else f"{ev:.1f}",
        )

    def close(self) -> None:
        self._bar.stop()


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
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(r for r in rows if not beyond(r))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return side
