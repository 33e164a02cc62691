"""The flags of ``apexrl plot``, ``score``, ``video`` and ``inspect`` (tyro dataclasses) and what
each command runs. Nothing heavy is imported here: :mod:`apexrl.cli` imports this module to
parse, and the viz libraries are imported only when a command runs.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Literal

import tyro

from apexrl.logging import CSV_COLUMNS


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- plot
@dataclass(frozen=True)
class PlotArgs:
    """Learning curves of runs, grouped by (algorithm, env) from each run's config.json: the mean over
    seeds with a 95% bootstrap confidence band, one panel per env. Runs of different lengths are
    aligned on a common grid and a group is drawn where at least --min-seeds of its runs cover it;
    runs still in progress are read as far as they are."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR|GLOB")]
    """Run directories, directories of runs (runs/), glob patterns (quoted), or benchmark result .json files."""
    x: Literal["env_frames", "env_steps", "wall_s", "learner_steps"] = "env_frames"
    """Column of metrics.csv on the x axis."""
    y: str = "eval_return"
    """Column of metrics.csv on the y axis: eval_return (greedy evaluations), episode_return (training episodes), loss, q_mean, ..."""
    out: str = "curves.png"
    """Figure file: .png, .svg or .pdf."""
    min_seeds: int = 0
    """Draw a group's curve where at least this many of its runs cover the point (0: all of them)."""
    points: int = 200
    """Grid points per env."""
    title: str | None = None
    """Figure title."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("apexrl plot needs at least one RUN_DIR or GLOB")
        if self.y not in CSV_COLUMNS or self.y == self.x:
            raise ValueError(f"invalid y={self.y!r} (--y): expected a metrics.csv column other than --x: "
                             f"{', '.join(c for c in CSV_COLUMNS if c != self.x)}")
        if not self.out.lower().endswith((".png", ".svg", ".pdf")):
            raise ValueError(f"invalid out={self.out!r} (--out): the figure file must end in .png, .svg or .pdf")
        if self.min_seeds < 0:
            raise ValueError(f"invalid min_seeds={self.min_seeds} (--min-seeds): must be >= 0")
        if self.points < 2:
            raise ValueError(f"invalid points={self.points} (--points): must be >= 2")


def run_plot(args: PlotArgs) -> int:
    """Run ``apexrl plot``: draw the figure, print one line per group and the file written."""
    from apexrl.viz.curves import describe, group_curves, plot_curves
    from apexrl.viz.runs import find_runs, group_runs

    runs = find_runs(args.runs)
    curves = group_curves(runs, args.x, args.y, points=args.points, min_seeds=args.min_seeds)
    counts = {key: len(group) for key, group in group_runs(runs).items()}
    for line in describe(curves, args.x, counts):
        _note(line)
    plot_curves(curves, args.out, args.x, args.y, title=args.title)
    print(json.dumps({"out": os.path.abspath(args.out), "runs": len(runs), "groups": len(curves)}))
    return 0


# ---------------------------------------------------------------------------- score
@dataclass(frozen=True)
class ScoreArgs:
    """Per-task final scores and their aggregates over tasks and seeds, after rliable (Agarwal et al.
    2021): median, interquartile mean (IQM), mean and optimality gap with 95% stratified-bootstrap
    confidence intervals, and the probability of improvement between each two algorithms. A run's
    score is its final evaluation, or the last evaluation in metrics.csv of a run that has not
    finished. Prints the Markdown and writes OUT.json and OUT.md."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR|GLOB")]
    """Run directories, directories of runs (runs/), glob patterns (quoted), or benchmark result .json files."""
    normalize: Literal["human", "random", "none"] = "human"
    """human: (score - random) / (human - random), Atari games only; random: score - random-play score (Atari, MinAtar, classic control); none: raw returns."""
    out: str = "scores"
    """Output files without extension: OUT.json and OUT.md."""
    reps: int = 2000
    """Bootstrap resamples of the confidence intervals."""
    seed: int = 0
    """Seed of the bootstrap."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("apexrl score needs at least one RUN_DIR or GLOB")
        if self.reps < 1:
            raise ValueError(f"invalid reps={self.reps} (--reps): must be >= 1")


def run_score(args: ScoreArgs) -> int:
    """Run ``apexrl score``: print the Markdown report and write it with its JSON."""
    from apexrl.viz.runs import find_runs
    from apexrl.viz.scores import final_score, markdown, score_report, write_report

    runs = find_runs(args.runs)
    scores = []
    for run in runs:
        score = final_score(run)
        if score is None:
            _note(f"{run.path}: no evaluation yet, left out")
        else:
            scores.append(score)
    report = score_report(scores, args.normalize, reps=args.reps, seed=args.seed)
    print(markdown(report))
    json_path, md_path = write_report(report, args.out)
    _note(f"wrote {json_path} and {md_path}")
    return 0


# ---------------------------------------------------------------------------- video
@dataclass(frozen=True)
class VideoArgs:
    """MP4 videos of a run's policy playing evaluation episodes (full games, raw rewards; Atari in full
    colour), one file per episode named with its return: the run's final network, or the newest
    complete checkpoint of a stopped run (the one used is named)."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by apexrl train."""
    episodes: int = 1
    """Episodes to record."""
    out: str | None = None
    """Directory of the videos (default: RUN_DIR/videos)."""
    epsilon: float | None = None
    """Probability of a random action (default: the run's evaluation epsilon)."""
    seed: int = 12345
    """Seed of the first episode's environment (episode k uses seed + k)."""
    max_steps: int | None = None
    """Cut an episode after this many agent steps (default: the run's evaluation cap)."""

    def __post_init__(self) -> None:
        if self.episodes <= 0:
            raise ValueError(f"invalid episodes={self.episodes!r} (--episodes): must be > 0")
        if self.epsilon is not None and not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"invalid epsilon={self.epsilon!r} (--epsilon): must be in [0, 1]")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"invalid max_steps={self.max_steps!r} (--max-steps): must be > 0")


def run_video(args: VideoArgs) -> int:
    """Run ``apexrl video``: name the network used, write the videos, print where they are."""
    from apexrl.agents import get_agent
    from apexrl.runtime.policy import load_run_network_from
    from apexrl.viz.video import record_videos

    network, config, env_kwargs, chosen = load_run_network_from(args.run_dir)
    _note(f"recording the {chosen.describe()}")
    run = config.run
    results = record_videos(network, run.env_id, args.episodes, args.out or os.path.join(args.run_dir, "videos"),
                            epsilon=run.eval_epsilon if args.epsilon is None else args.epsilon, seed=args.seed,
                            max_steps=args.max_steps or run.eval_max_episode_steps, env_kwargs=env_kwargs,
                            agent=get_agent(chosen.algo))
    print(json.dumps({"run_dir": args.run_dir, "network": chosen.source, "videos": results}, indent=2))
    return 0


# ---------------------------------------------------------------------------- inspect
@dataclass(frozen=True)
class InspectArgs:
    """Figures of what a run's network computes over evaluation episodes, linked from OUT/inspect.html:
    values (V(s) and the chosen action's advantage per step, rewards marked), saliency (perturbation
    saliency, Greydanus et al. 2018), tsne (t-SNE of the last hidden layer coloured by V(s)) and
    filters (the first convolution layer). A view the network has no part for says so. Uses the
    run's final network, or the newest complete checkpoint of a stopped run (the one used is named)."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by apexrl train."""
    episodes: int = 1
    """Episodes to play (values and saliency use the first; tsne pools all)."""
    what: str = "values,saliency,tsne,filters"
    """Comma-separated views: values, saliency, tsne, filters."""
    out: str | None = None
    """Directory of the figures and inspect.html (default: RUN_DIR/inspect)."""
    epsilon: float | None = None
    """Probability of a random action (default: the run's evaluation epsilon)."""
    seed: int = 12345
    """Seed of the first episode's environment (episode k uses seed + k) and of t-SNE."""
    max_steps: int | None = None
    """Cut an episode after this many agent steps (default: the run's evaluation cap)."""
    tsne_states: int = 2000
    """At most this many visited states in the t-SNE (evenly subsampled)."""
    saliency_frames: int = 4
    """Frames of the first episode with a saliency map."""

    def __post_init__(self) -> None:
        from apexrl.viz.inspect import VIEWS

        if self.episodes <= 0:
            raise ValueError(f"invalid episodes={self.episodes!r} (--episodes): must be > 0")
        views = [w.strip() for w in self.what.split(",") if w.strip()]
        if not views or any(w not in VIEWS for w in views):
            raise ValueError(f"invalid what={self.what!r} (--what): comma-separated views of {', '.join(VIEWS)}")
        if self.epsilon is not None and not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"invalid epsilon={self.epsilon!r} (--epsilon): must be in [0, 1]")
        for name in ("max_steps", "tsne_states", "saliency_frames"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"invalid {name}={value!r} (--{name.replace('_', '-')}): must be > 0")


def run_inspect(args: InspectArgs) -> int:
    """Run ``apexrl inspect``: name the network used, write the views and inspect.html."""
    from apexrl.runtime.policy import load_run_network_from
    from apexrl.viz.inspect import inspect_network

    network, config, env_kwargs, chosen = load_run_network_from(args.run_dir)
    _note(f"inspecting the {chosen.describe()}")
    from apexrl.agents import get_agent

    agent = get_agent(chosen.algo)
    run = config.run
    out = args.out or os.path.join(args.run_dir, "inspect")
    views, page = inspect_network(
        network, run.env_id, out, what=[w.strip() for w in args.what.split(",") if w.strip()],
        episodes=args.episodes, epsilon=run.eval_epsilon if args.epsilon is None else args.epsilon, seed=args.seed,
        max_steps=args.max_steps or run.eval_max_episode_steps, env_kwargs=env_kwargs, tsne_states=args.tsne_states,
        saliency_frames=args.saliency_frames, header={"run": args.run_dir, "network": chosen.describe()}, agent=agent)
    for view in views:
        if view.missing:
            _note(f"{view.name}: not available: {view.missing}")
    print(json.dumps({"html": page, "network": chosen.source,
                      "views": {v.name: v.path or f"not available: {v.missing}" for v in views}}, indent=2))
    return 0
