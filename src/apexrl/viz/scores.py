"""Aggregate scores over tasks and seeds: ``apexrl score``.

Each run gives one final score: the final evaluation of a finished run (``summary.json``'s
``final_eval_return``), else the last ``eval_return`` of its ``metrics.csv`` (a run stopped or in
progress). Scores are normalized per task (:func:`normalize`) and, per algorithm, arranged as a
runs × tasks matrix; the aggregates are those of rliable (Agarwal et al. 2021, "Deep Reinforcement
Learning at the Edge of the Statistical Precipice", NeurIPS): median, interquartile mean (IQM: the
mean of the middle 50% of all run × task scores), mean, optimality gap (mean of ``max(0, 1 −
score)``; meaningful for human-normalized scores, where 1 is human level) and the probability of
improvement P(X > Y) between two algorithms, each with a 95% stratified-bootstrap confidence
interval (runs resampled within each task).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apexrl.viz import require
from apexrl.viz.reference_scores import reference
from apexrl.viz.runs import Run

NORMALIZATIONS = ("human", "random", "none")
"""What ``--normalize`` accepts."""


@dataclass(frozen=True)
class FinalScore:
    """The final score of one run: ``value`` (raw game points) and where it was read (``source``)."""

    algo: str
    task: str
    seed: int
    value: float
    source: str
    path: str


def final_score(run: Run) -> FinalScore | None:
    """The final score of a run (see the module docstring), or ``None`` if it has no evaluation yet."""
    if run.summary is not None and run.summary.get("final_eval_return") is not None:
        return FinalScore(run.algo, run.env_id, run.seed, float(run.summary["final_eval_return"]), "final evaluation",
                          run.path)
    evals = run.metrics.get("eval_return")
    if evals is not None and np.isfinite(evals).any():
        last = evals[np.isfinite(evals)][-1]
        return FinalScore(run.algo, run.env_id, run.seed, float(last), "last evaluation in metrics.csv", run.path)
    return None


def normalize(score: float | np.ndarray, task: str, how: str) -> float | np.ndarray:
    """Normalize a raw score of ``task`` (an env id).

    * ``human``: (score − random) / (human − random); 0 is random play, 1 human level (Mnih et al.
      2015). Atari games only (:data:`apexrl.viz.reference_scores.ATARI`).
    * ``random``: score − random, the gain over uniformly random play in game points (Atari games and
      the tasks of :data:`apexrl.viz.reference_scores.RANDOM_PLAY`).
    * ``none``: the raw score.

    Raises:
        ValueError: an unknown ``how``, or a task without the reference score ``how`` needs (the
            message suggests ``--normalize``).
    """
    if how not in NORMALIZATIONS:
        raise ValueError(f"invalid normalize={how!r} (--normalize): expected one of {', '.join(NORMALIZATIONS)}")
    if how == "none":
        return score
    ref = reference(task)
    if ref is None or (how == "human" and ref.human is None):
        what = "human and random scores" if how == "human" else "random-play score"
        raise ValueError(f"no {what} known for {task!r}: use --normalize "
                         f"{'random' if ref is not None else 'none'} (reference scores: Atari games for human; "
                         "Atari, MinAtar and classic control for random)")
    if how == "human":
        return (score - ref.random) / (ref.human - ref.random)
    return score - ref.random


def score_matrices(scores: Sequence[FinalScore], how: str) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Per algorithm a ``[runs, tasks]`` float64 matrix of normalized scores over the tasks that
    algorithm has, tasks sorted; runs of a task are its seeds in order, and every task keeps as many
    runs as the task with the fewest (rliable's matrices are rectangular).

    Returns: ``(algo -> matrix, tasks of every algorithm (the union, sorted), notes)``; ``notes``
    say which runs were left out.

    Raises:
        ValueError: as :func:`normalize`.
    """
    by_algo: dict[str, dict[str, list[FinalScore]]] = {}
    for s in scores:
        by_algo.setdefault(s.algo, {}).setdefault(s.task, []).append(s)
    matrices, notes = {}, []
    for algo, tasks in by_algo.items():
        names = sorted(tasks)
        n = min(len(tasks[t]) for t in names)
        columns = []
        for t in names:
            runs = sorted(tasks[t], key=lambda s: (s.seed, s.path))
            if len(runs) > n:
                notes.append(f"{algo} on {t}: {len(runs)} runs, the first {n} by seed used (the fewest of its tasks)")
            columns.append([float(normalize(s.value, t, how)) for s in runs[:n]])
        matrices[algo] = np.asarray(columns, dtype=np.float64).T.reshape(n, len(names))
    tasks_all = sorted({s.task for s in scores})
    return matrices, tasks_all, notes


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries: the mean of the middle 50% (25% trimmed from each end,
    ``scipy.stats.trim_mean(x, 0.25)``, as rliable's ``aggregate_iqm``)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(scores, dtype=np.float64).ravel(), proportiontocut=0.25))


def aggregates(matrix: np.ndarray) -> dict[str, float]:
    """Median (over tasks of the per-task mean over runs, as rliable), IQM, mean and optimality gap
    (γ = 1) of a ``[runs, tasks]`` matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    return {"median": float(np.median(m.mean(axis=0))), "iqm": iqm(m), "mean": float(m.mean()),
            "optimality_gap": float(np.mean(np.maximum(0.0, 1.0 - m)))}


AGGREGATES = ("median", "iqm", "mean", "optimality_gap")


def interval_estimates(matrices: dict[str, np.ndarray], *, reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Point estimates and 95% stratified-bootstrap CIs of :data:`AGGREGATES` per algorithm, through
    ``rliable.library.get_interval_estimates``, and the probability of improvement of each pair of
    algorithms over their common tasks.

    Returns: ``{"aggregates": {algo: {name: {"value", "ci": [lo, hi]}}}, "probability_of_improvement":
    [{"x", "y", "tasks", "value", "ci"}]}``.

    Raises:
        MissingVizDependency: rliable is not installed.
    """
    rly = require("rliable.library", "apexrl score")
    rmetrics = require("rliable.metrics", "apexrl score")

    def agg(x: np.ndarray) -> np.ndarray:
        return np.array([rmetrics.aggregate_median(x), rmetrics.aggregate_iqm(x), rmetrics.aggregate_mean(x),
                         rmetrics.aggregate_optimality_gap(x)])

    out: dict[str, Any] = {"aggregates": {}, "probability_of_improvement": []}
    for algo, m in matrices.items():
        if m.shape[0] < 2:  # one run per task: nothing to resample, the interval is the point
            point = agg(m)
            out["aggregates"][algo] = {k: {"value": float(v), "ci": [float(v), float(v)]}
                                       for k, v in zip(AGGREGATES, point)}
            continue
        point, ci = _estimates(rly, {algo: m}, agg, reps, seed)
        out["aggregates"][algo] = {k: {"value": float(point[algo][i]), "ci": [float(ci[algo][0, i]),
                                                                          float(ci[algo][1, i])]}
                                   for i, k in enumerate(AGGREGATES)}
    return out


def _estimates(rly: Any, data: dict[str, Any], func: Any, reps: int, seed: int) -> tuple[Any, Any]:
    """rliable's stratified bootstrap with a seeded generator; arch's FutureWarning about the
    ``random_state`` argument rliable passes is silenced (nothing for a user to act on)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="arch")
        return rly.get_interval_estimates(data, func, reps=reps, random_state=np.random.RandomState(seed))


def probability_of_improvement(x: np.ndarray, y: np.ndarray, *, reps: int = 2000, seed: int = 0) -> tuple[float, list[float]]:
    """P(X > Y) of two ``[runs, tasks]`` matrices over the same tasks (ties count half), with its 95%
    stratified-bootstrap CI (rliable's ``probability_of_improvement``); both keep the smaller run count.

    Raises:
        MissingVizDependency: rliable is not installed.
    """
    rly = require("rliable.library", "apexrl score")
    rmetrics = require("rliable.metrics", "apexrl score")
    n = min(x.shape[0], y.shape[0])
    x, y = x[:n], y[:n]
    value = float(rmetrics.probability_of_improvement(x, y))
    if n < 2:
        return value, [value, value]
    point, ci = _estimates(rly, {"p": (x, y)}, rmetrics.probability_of_improvement, reps, seed)
    return float(point["p"]), [float(ci["p"][0][0]), float(ci["p"][1][0])]


def score_report(scores: Sequence[FinalScore], how: str, *, reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Everything ``apexrl score`` writes: per-task scores (raw and normalized, mean over seeds),
    the aggregates with CIs, and the probability of improvement of every pair of algorithms.

    Raises:
        ValueError: no scores, or as :func:`normalize`.
    """
    if not scores:
        raise ValueError("no run has an evaluation yet (no final_eval_return, no eval_return in metrics.csv)")
    matrices, tasks, notes = score_matrices(scores, how)
    report = interval_estimates(matrices, reps=reps, seed=seed)
    per_task = []
    for algo in matrices:
        for task in tasks:
            mine = [s for s in scores if s.algo == algo and s.task == task]
            if mine:
                raw = [s.value for s in mine]
                per_task.append({"algo": algo, "task": task, "seeds": [s.seed for s in mine], "raw": raw,
                                 "raw_mean": float(np.mean(raw)),
                                 "normalized_mean": float(np.mean([normalize(v, task, how) for v in raw])),
                                 "sources": sorted({s.source for s in mine})})
    pairs = []
    algos = list(matrices)
    for i, a in enumerate(algos):
        for b in algos[i + 1:]:
            common = [t for t in tasks if t in {s.task for s in scores if s.algo == a}
                      and t in {s.task for s in scores if s.algo == b}]
            if not common:
                continue
            xa = _columns(scores, a, common, how)
            xb = _columns(scores, b, common, how)
            value, ci = probability_of_improvement(xa, xb, reps=reps, seed=seed)
            pairs.append({"x": a, "y": b, "tasks": common, "value": value, "ci": ci})
    report["probability_of_improvement"] = pairs
    refs = {t: (vars(reference(t)) if reference(t) is not None else None) for t in tasks}
    return {"normalize": how, "reps": reps, "per_task": per_task, **report, "references": refs, "notes": notes}


def _columns(scores: Sequence[FinalScore], algo: str, tasks: Sequence[str], how: str) -> np.ndarray:
    matrices, _, _ = score_matrices([s for s in scores if s.algo == algo and s.task in tasks], how)
    return matrices[algo]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: per-task table, aggregates with CIs, probabilities of improvement."""
    how = report["normalize"]
    unit = {"human": "human-normalized (1 = human)", "random": "gain over random play", "none": "raw"}[how]
    lines = [f"## Per-task scores ({unit})", "", "| algorithm | task | seeds | raw mean | normalized mean |",
             "|---|---|---|---|---|"]
    for row in report["per_task"]:
        lines.append(f"| {row['algo']} | {row['task']} | {len(row['seeds'])} | {row['raw_mean']:.4g} | "
                     f"{row['normalized_mean']:.4g} |")
    lines += ["", f"## Aggregates (95% stratified-bootstrap CIs, {report['reps']} resamples)", "",
              "| algorithm | median | IQM | mean | optimality gap |", "|---|---|---|---|---|"]
    for algo, agg in report["aggregates"].items():
        cells = [f"{agg[k]['value']:.3g} [{agg[k]['ci'][0]:.3g}, {agg[k]['ci'][1]:.3g}]" for k in AGGREGATES]
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    if report["probability_of_improvement"]:
        lines += ["", "## Probability of improvement", "", "| P(X > Y) | tasks | value [95% CI] |", "|---|---|---|"]
        for p in report["probability_of_improvement"]:
            lines.append(f"| P({p['x']} > {p['y']}) | {len(p['tasks'])} | {p['value']:.3f} "
                         f"[{p['ci'][0]:.3f}, {p['ci'][1]:.3f}] |")
    notes = list(report["notes"])
    if how != "human":
        notes.append("the optimality gap measures the distance below 1 (human level): it means something with "
                     "--normalize human only")
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: str) -> tuple[str, str]:
    """Write ``OUT.json`` and ``OUT.md`` (``out`` without extension); returns both paths."""
    base = out[:-3] if out.endswith(".md") else out[:-5] if out.endswith(".json") else out
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(base + ".md", "w") as f:
        f.write(markdown(report))
    return base + ".json", base + ".md"
