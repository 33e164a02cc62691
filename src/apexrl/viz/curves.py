"""Learning curves over seeds: ``apexrl plot``.

Runs are grouped by ``(algo, env_id)``; each run's curve (``y`` against ``x``, from its
``metrics.csv``) is linearly interpolated onto one grid per environment, only inside the span
the run covers (no extrapolation), and at each grid point the mean over the covering seeds is drawn
with a 95% percentile-bootstrap confidence band over seeds (Efron & Tibshirani 1993, ch. 13; the
band rliable (Agarwal et al. 2021) draws for sample efficiency curves). The curve of a group is
drawn only where at least ``min_seeds`` of its runs cover the grid point (default: all of them), so
the mean does not jump where a shorter run (one still in progress) ends.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apexrl.viz import pyplot
from apexrl.viz.runs import Run, group_runs

X_COLUMNS = ("env_frames", "env_steps", "wall_s", "learner_steps")
"""Columns ``--x`` accepts."""

FORMATS = (".png", ".svg", ".pdf")
"""Figure formats ``--out`` accepts (by file extension)."""


@dataclass(frozen=True)
class GroupCurve:
    """The curve of one ``(algo, env_id)`` group on a grid.

    Attributes:
        algo, env_id: the group.
        seeds: the seeds of its runs.
        x: grid points ``[G]`` where at least ``min_seeds`` runs cover (units of the ``x`` column).
        mean: mean over the covering runs ``[G]``.
        low, high: bounds of the 95% bootstrap band ``[G]``.
        count: runs covering each point ``[G]`` (int).
    """

    algo: str
    env_id: str
    seeds: tuple[int, ...]
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray


def interpolate(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``ys(xs)`` linearly interpolated at ``grid`` ``[G]``; NaN outside ``[xs[0], xs[-1]]``
    (and everywhere for an empty curve). ``xs`` must be non-decreasing."""
    out = np.full(grid.shape, np.nan)
    if len(xs) == 0:
        return out
    inside = (grid >= xs[0]) & (grid <= xs[-1])
    out[inside] = np.interp(grid[inside], xs, ys)
    return out


def align(curves: Sequence[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """Curves ``(xs, ys)`` on a common ``grid``: ``[R, G]`` float64, NaN where a run does not cover."""
    return np.stack([interpolate(xs, ys, grid) for xs, ys in curves]) if curves else np.zeros((0, len(grid)))


def bootstrap_band(values: np.ndarray, *, confidence: float = 0.95, reps: int = 2000,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs and its percentile-bootstrap confidence band, per grid point.

    Args:
        values: ``[R, G]`` (runs × grid points), NaN where a run has no value; at each point the
            runs with a value are resampled with replacement ``reps`` times.
        confidence: the band's coverage (0.95: the 2.5 and 97.5 percentiles of the resampled means).
        seed: seed of the resampling (the band is reproducible).

    Returns:
        ``(mean, low, high)``, each ``[G]``; NaN where no run has a value. A point with one run,
        or with equal values, has ``low == mean == high``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    g = values.shape[1]
    mean, low, high = (np.full(g, np.nan) for _ in range(3))
    alpha = (1.0 - confidence) / 2.0
    for j in range(g):
        v = values[:, j]
        v = v[np.isfinite(v)]
        if len(v) == 0:
            continue
        mean[j] = v.mean()
        if len(v) == 1 or np.all(v == v[0]):
            low[j] = high[j] = mean[j]
            continue
        means = v[rng.integers(0, len(v), size=(reps, len(v)))].mean(axis=1)
        low[j], high[j] = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, low, high


def group_curves(runs: Sequence[Run], x: str, y: str, *, points: int = 200, min_seeds: int = 0,
                 reps: int = 2000) -> list[GroupCurve]:
    """One :class:`GroupCurve` per ``(algo, env_id)`` group.

    The grid of an environment spans from the smallest first ``x`` to the largest last ``x`` of its
    runs in ``points`` evenly spaced points, plus the last ``x`` of each run of the group (so a curve
    ends where its runs end). ``min_seeds`` 0 means all runs of the group.

    Raises:
        ValueError: a run lacks the ``x`` or ``y`` column; ``points < 2``; ``min_seeds < 0``.
    """
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    if min_seeds < 0:
        raise ValueError(f"invalid min_seeds={min_seeds} (--min-seeds): must be >= 0 (0: all runs of a group)")
    groups = group_runs(runs)
    curves = {key: [run.curve(x, y) for run in group] for key, group in groups.items()}
    spans: dict[str, list[float]] = {}
    for (_, env_id), group_curves_ in curves.items():
        for xs, _ in group_curves_:
            if len(xs):
                span = spans.setdefault(env_id, [np.inf, -np.inf])
                span[0], span[1] = min(span[0], xs[0]), max(span[1], xs[-1])
    out = []
    for (algo, env_id), cs in curves.items():
        lo, hi = spans.get(env_id, (0.0, 1.0))
        grid = np.linspace(lo, hi, points) if hi > lo else np.asarray([lo])
        grid = np.union1d(grid, [xs[-1] for xs, _ in cs if len(xs)])  # each curve reaches its own end
        values = align(cs, grid)
        count = np.isfinite(values).sum(axis=0)
        need = len(cs) if min_seeds == 0 else min(min_seeds, len(cs))
        keep = count >= max(need, 1)
        mean, low, high = bootstrap_band(values[:, keep], reps=reps)
        out.append(GroupCurve(algo, env_id, tuple(r.seed for r in groups[(algo, env_id)]), grid[keep], mean, low,
                              high, count[keep]))
    return out


def plot_curves(curves: Sequence[GroupCurve], out: str, x: str, y: str, *, title: str | None = None) -> str:
    """Draw the curves, one panel per environment and one line (with its band) per algorithm, and
    save the figure to ``out`` (``.png``, ``.svg`` or ``.pdf``; PNG at 110 dpi).

    Returns: ``out``.

    Raises:
        ValueError: another file extension.
        MissingVizDependency: matplotlib is not installed.
    """
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"invalid out={out!r} (--out): the figure file must end in {', '.join(FORMATS)}")
    plt = pyplot("apexrl plot")
    envs = list(dict.fromkeys(c.env_id for c in curves))
    algos = list(dict.fromkeys(c.algo for c in curves))
    cols = min(len(envs), 3)
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax, env_id in zip(axes.flat, envs):
        for c in (c for c in curves if c.env_id == env_id):
            color = f"C{algos.index(c.algo) % 10}"
            n = len(c.seeds)
            label = f"{c.algo} ({n} seed{'s' if n != 1 else ''})"
            if len(c.x) == 1:
                ax.errorbar(c.x, c.mean, yerr=[c.mean - c.low, c.high - c.mean], fmt="o", color=color, label=label)
                continue
            ax.plot(c.x, c.mean, color=color, label=label)
            ax.fill_between(c.x, c.low, c.high, color=color, alpha=0.2, linewidth=0)
        ax.set_title(env_id)
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylabel(f"{y.replace('_', ' ')} (mean, 95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(envs):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def describe(curves: Sequence[GroupCurve], x: str, runs_per_group: dict[tuple[str, str], int]) -> list[str]:
    """One line per group for the terminal: seeds, how far the curve goes, the last mean and band."""
    lines = []
    for c in curves:
        total = runs_per_group.get((c.algo, c.env_id), len(c.seeds))
        if len(c.x) == 0:
            lines.append(f"{c.algo} on {c.env_id}: {total} runs, no point covered by enough of them "
                         "(lower --min-seeds)")
            continue
        lines.append(f"{c.algo} on {c.env_id}: {total} run{'s' if total != 1 else ''} (seeds "
                     f"{', '.join(map(str, c.seeds))}), drawn up to {x}={c.x[-1]:,.0f}; last mean {c.mean[-1]:.4g} "
                     f"[{c.low[-1]:.4g}, {c.high[-1]:.4g}] over {int(c.count[-1])} run(s)")
    return lines
