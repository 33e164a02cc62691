"""Finding and reading the runs that ``apexrl plot`` and ``apexrl score`` look at.

A run is a directory written by ``apexrl train`` (``config.json`` + ``metrics.csv``; a finished run
also has ``summary.json``), or a cached benchmark result file such as
``benchmarks/results/dqn_ablation_runs/*.json`` (keys ``algo``, ``game`` or ``env_id``, ``seed`` and
``curve``, a list of ``{env_frames, learner_steps, wall_s, eval_return}``). Only ``metrics.csv`` is
read: the side files ``metrics.after-ckpt-*.csv`` that a resume leaves are ignored. Runs still in
progress are read as far as they are (a half-written last line is dropped).
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Run:
    """One run, as the viz tools see it.

    Attributes:
        path: the run directory (or result file).
        algo: algorithm name (``config.json``'s ``algo``).
        env_id: environment id (``config.run.env_id``).
        seed: ``config.run.seed``.
        metrics: column name -> float64 array over the rows of ``metrics.csv`` (NaN where a cell
            is empty), rows sorted by ``env_frames``.
        summary: ``summary.json`` (``None`` while the run is in progress or was stopped).
    """

    path: str
    algo: str
    env_id: str
    seed: int
    metrics: dict[str, np.ndarray] = field(repr=False)
    summary: dict | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        """Whether the run wrote its ``summary.json`` (a run in progress has none)."""
        return self.summary is not None

    def curve(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` float64 arrays of the rows where both columns have a value.

        Raises:
            ValueError: the run has no column ``x`` or ``y`` (the message lists those it has).
        """
        for name in (x, y):
            if name not in self.metrics:
                raise ValueError(f"{self.path} has no column {name!r}; it has: {', '.join(self.metrics)}")
        xs, ys = self.metrics[x], self.metrics[y]
        keep = np.isfinite(xs) & np.isfinite(ys)
        return xs[keep], ys[keep]


def read_metrics(path: str) -> dict[str, np.ndarray]:
    """The columns of a ``metrics.csv`` as float64 arrays (NaN for empty or unparsable cells).

    A row shorter than the header (the half-written last line of a run in progress) is dropped.
    Rows are made monotone in ``env_frames``: a row with fewer frames than the rows before it
    (an old run resumed from a checkpoint, before metrics.csv was truncated on resume) replaces
    those rows, so the resumed timeline is kept.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file has no header.
    """
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path} is empty (no header line)")
        rows = [row for row in reader if len(row) == len(header)]
    frames_col = header.index("env_frames") if "env_frames" in header else None
    kept: list[list[float]] = []
    for row in rows:
        values = [_float(cell) for cell in row]
        if frames_col is not None:
            while kept and kept[-1][frames_col] > values[frames_col]:
                kept.pop()
        kept.append(values)
    table = np.asarray(kept, dtype=np.float64).reshape(len(kept), len(header))
    return {name: table[:, i] for i, name in enumerate(header)}


def _float(cell: str) -> float:
    try:
        return float(cell) if cell != "" else math.nan
    except ValueError:
        return math.nan


def read_run(path: str) -> Run:
    """A run directory or a benchmark result file as a :class:`Run`.

    Raises:
        FileNotFoundError: neither a directory with ``config.json`` and ``metrics.csv`` nor a
            result ``.json`` file.
        ValueError: a file that is not a run's.
    """
    if os.path.isfile(path) and path.endswith(".json"):
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or "curve" not in data or "algo" not in data:
            raise ValueError(f"{path} is not a run result file (expected keys 'algo' and 'curve')")
        columns = sorted({k for point in data["curve"] for k in point})
        metrics = {k: np.asarray([float(p.get(k, math.nan)) for p in data["curve"]], dtype=np.float64)
                   for k in columns}
        summary = {"final_eval_return": data["final_eval_return"]} if "final_eval_return" in data else None
        return Run(path, str(data["algo"]), str(data.get("env_id", data.get("game", "?"))),
                   int(data.get("seed", 0)), metrics, summary)
    config_path = os.path.join(path, "config.json")
    metrics_path = os.path.join(path, "metrics.csv")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{config_path} not found: is {path!r} an apexrl run directory?")
    with open(config_path) as f:
        saved = json.load(f)
    run = saved["config"]["run"]
    metrics = read_metrics(metrics_path) if os.path.isfile(metrics_path) else {}
    summary = None
    summary_path = os.path.join(path, "summary.json")
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    return Run(path, str(saved.get("algo", "apex-dqn")), str(run["env_id"]), int(run["seed"]), metrics, summary)


def find_runs(patterns: Sequence[str]) -> list[Run]:
    """The runs named by ``patterns``: each is a run directory, a directory of run directories
    (``runs/``, or a directory of result files), a result ``.json`` file, or a glob pattern of these (``runs/*CartPole*``).
    Duplicates are read once; the order is sorted by path.

    Raises:
        ValueError: a pattern matches no run (the message names it).
    """
    found: dict[str, Run] = {}
    for pattern in patterns:
        candidates = sorted(glob.glob(pattern)) or ([pattern] if os.path.exists(pattern) else [])
        matched = 0
        for path in candidates:
            for run_path in _run_paths(path):
                key = os.path.realpath(run_path)
                if key not in found:
                    found[key] = read_run(run_path)
                matched += 1
        if not matched:
            raise ValueError(f"{pattern!r} matches no run directory (a directory with config.json) "
                             "and no run result .json file")
    return sorted(found.values(), key=lambda r: r.path)


def _run_paths(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path] if path.endswith(".json") and os.path.basename(path) not in _RUN_SIDE_FILES else []
    if os.path.isfile(os.path.join(path, "config.json")):
        return [path]
    if os.path.isdir(path):
        return sorted(os.path.join(path, d) for d in os.listdir(path)
                      if os.path.isfile(os.path.join(path, d, "config.json"))
                      or (d.endswith(".json") and os.path.isfile(os.path.join(path, d))))
    return []


_RUN_SIDE_FILES = {"config.json", "summary.json", "eval.json"}


def group_runs(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs grouped by ``(algo, env_id)``, the groups in first-seen order, each sorted by seed."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.algo, run.env_id), []).append(run)
    return {key: sorted(group, key=lambda r: (r.seed, r.path)) for key, group in groups.items()}
