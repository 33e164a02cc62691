"""DQN-family ablation on MinAtar: each named algorithm, a fixed frame budget, several seeds.

Every run is ``AGENTS[name].presets["minatar"]()`` with the game, budget and seed replaced
(the same actor, replay and learner code; only the switches differ). Each finished run is cached
as ``benchmarks/results/dqn_ablation_runs/<game>-<algo>-s<seed>-<frames>.json`` (its greedy eval
curve, its training curve from ``metrics.csv`` and its summary), so the full grid (8 algorithms
× 2 games × 3 seeds × 1M frames, hours on two cores) can be run in parts, in several sessions,
and a rerun skips what is done. The script then prints a table (mean ± std of the final
greedy return, wall time), draws the learning curves (``benchmarks/results/dqn_ablation.png``)
and writes ``dqn_ablation.json``. There is no peer library: the RESULT line compares
``rainbow`` with ``dqn`` on the first game.

    python benchmarks/dqn_ablation.py [--quick] [--frames 1000000] [--seeds 0 1 2]
        [--games breakout asterix] [--algos dqn rainbow ...] [--report-only] [--jobs J]

``--jobs J`` trains the missing runs in ``J`` child processes at a time (each learner with one
thread; an ``apex-*`` run also starts its two actor processes and an evaluator, and is counted
as three jobs), then reports as usual. Each cached run records the machine it ran on
(CPU model, cores, concurrent jobs), because its wall time depends on both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

from apexrl.agents import AGENTS  # noqa: E402
from apexrl.runtime.run import train  # noqa: E402
from apexrl.config import ApexDQNConfig  # noqa: E402

NAME = "dqn_ablation"
GAMES = {"breakout": "MinAtar/Breakout-v1", "asterix": "MinAtar/Asterix-v1"}
ALGOS = ["dqn", "double-dqn", "dueling-dqn", "prioritized-dqn", "c51", "rainbow", "apex-dqn", "apex-rainbow"]
RUNS_DIR = Path(__file__).resolve().parent / "results" / "dqn_ablation_runs"


def _options(parser: Any) -> None:
    parser.add_argument("--frames", type=int, default=1_000_000, help="budget per run in env frames")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--algos", nargs="+", default=ALGOS, choices=ALGOS)
    parser.add_argument("--report-only", action="store_true", help="only summarise cached runs")
    parser.add_argument("--jobs", type=int, default=1, help="missing runs trained at a time, in child processes")
    parser.add_argument("--learner-threads", type=int, default=0,
                        help="torch threads per learner (0: the trainer's default; --jobs > 1 uses 1)")
    parser.add_argument("--one", nargs=3, metavar=("ALGO", "GAME", "SEED"), help=argparse.SUPPRESS)


def run_path(algo: str, game: str, seed: int, frames: int, quick: bool) -> Path:
    """The cache file of one (algorithm, game, seed, budget)."""
    return RUNS_DIR / f"{game}-{algo}-s{seed}-{frames}{'.quick' if quick else ''}.json"


def run_one(algo: str, game: str, seed: int, frames: int, quick: bool, learner_threads: int = 0,
            jobs: int = 1) -> dict[str, Any]:
    """Train one (algorithm, game, seed) or load it from the cache."""
    path = run_path(algo, game, seed, frames, quick)
    if path.exists():
        return json.loads(path.read_text())
    base = AGENTS[algo].presets["minatar"]()
    with tempfile.TemporaryDirectory() as tmp:
        run = dataclasses.replace(base.run, env_id=GAMES[game], total_env_frames=frames, seed=seed,
                                  run_dir=str(Path(tmp) / "run"), progress=False, tensorboard=False,
                                  eval_interval_frames=max(frames // 20, 1000),
                                  final_eval_episodes=5 if quick else base.run.final_eval_episodes,
                                  learner_threads=learner_threads)
        config = ApexDQNConfig(run=run, replay=base.replay, actor=base.actor, learner=base.learner)
        summary = train(config, algo)
        train_curve = _train_curve(Path(tmp) / "run" / "metrics.csv")
    if "final_eval_return" not in summary:  # stopped by a signal: a checkpoint, no final evaluation
        raise SystemExit(f"{game} {algo} seed {seed} was interrupted at {summary.get('env_frames', 0):,} frames; "
                         "nothing cached")
    record = {"algo": algo, "game": game, "seed": seed, "frames": frames,
              "final_eval_return": summary["final_eval_return"], "wall_s": summary["wall_s"],
              "learner_steps": summary["learner_steps"], "curve": summary["eval_history"],
              "train_curve": train_curve,
              "machine": {"cpu": H.machine_info()["cpu_model"], "cores": os.cpu_count(), "concurrent_jobs": jobs,
                          "learner_threads": learner_threads},
              "batch_size": config.learner.batch_size, "commit": H.git_commit()}
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return record


def _train_curve(metrics_csv: Path, points: int = 100) -> list[dict[str, float]]:
    """Up to ``points`` evenly spaced rows of the run's ``metrics.csv`` once learning has started:
    the actors' mean training episode return (with their exploration), ``q_mean`` and ``loss``
    against env frames; kept beside the greedy eval curve to tell "did not learn" from "learned,
    but the greedy policy fails"."""
    rows = H.metrics_rows(metrics_csv, ("env_frames", "episode_return", "q_mean", "loss"))
    return rows[:: max(1, -(-len(rows) // points))]


def _mean_std(mean: float, std: float, n: int) -> str:
    """``mean ± std`` for several seeds; a single seed has no spread to show."""
    return f"{mean:.2f} ± {std:.2f}" if n > 1 else f"{mean:.2f}"


def plot(records: list[dict[str, Any]], games: list[str], algos: list[str], out: Path) -> None:
    """Learning curves: per algorithm the mean greedy return over its seeds (each seed's curve
    interpolated onto a common frame grid) and, with several seeds, a min–max band."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(games), figsize=(6 * len(games), 4), squeeze=False)
    for ax, game in zip(axes[0], games):
        for algo in algos:
            runs = [r for r in records if r["game"] == game and r["algo"] == algo]
            if not runs:
                continue
            grid = np.linspace(min(r["curve"][0]["env_frames"] for r in runs), max(r["frames"] for r in runs), 40)
            ys = np.stack([np.interp(grid, [p["env_frames"] for p in r["curve"]],
                                     [p["eval_return"] for p in r["curve"]]) for r in runs])
            color = f"C{algos.index(algo)}"
            ax.plot(grid, ys.mean(0), color=color, label=f"{algo} ({len(runs)} seed{'s' * (len(runs) > 1)})")
            if len(runs) > 1:
                ax.fill_between(grid, ys.min(0), ys.max(0), color=color, alpha=0.15)
        ax.set_title(f"MinAtar {game}")
        ax.set_xlabel("env frames")
        ax.set_ylabel("greedy eval return (mean over seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def run_parallel(todo: list[tuple[str, str, int]], frames: int, quick: bool, jobs: int) -> None:
    """Train the ``(algo, game, seed)`` runs of ``todo`` in up to ``jobs`` child processes at a time
    (``apex-*`` runs first: they take three cores each, counted as such)."""
    todo = sorted(todo, key=lambda t: not t[0].startswith("apex-"))
    running: list[tuple[subprocess.Popen, int, tuple[str, str, int]]] = []
    while todo or running:
        used = sum(cores for _, cores, _ in running)
        while todo and used + (cores := 3 if todo[0][0].startswith("apex-") else 1) <= max(jobs, cores):
            algo, game, seed = todo.pop(0)
            cmd = [sys.executable, __file__, "--one", algo, game, str(seed), "--frames", str(frames),
                   "--jobs", str(jobs)] + (["--quick"] if quick else [])
            running.append((subprocess.Popen(cmd), cores, (algo, game, seed)))
            used += cores
        time.sleep(1.0)
        for entry in list(running):
            if entry[0].poll() is not None:
                running.remove(entry)
                if entry[0].returncode != 0:
                    print(f"  run {entry[2]} failed with exit code {entry[0].returncode}", flush=True)


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0], extra=_options)
    t0 = time.perf_counter()
    frames = 20_000 if args.quick else args.frames
    if args.one:
        algo, game, seed = args.one[0], args.one[1], int(args.one[2])
        threads = args.learner_threads or (1 if args.jobs > 1 else 0)
        r = run_one(algo, game, seed, frames, args.quick, learner_threads=threads, jobs=args.jobs)
        print(f"  {game:9s} {algo:16s} seed {seed}: final {r['final_eval_return']:.2f} in {r['wall_s']:.0f} s",
              flush=True)
        return
    seeds = args.seeds[:1] if args.quick else args.seeds
    games = args.games[:1] if args.quick else args.games
    algos = ["dqn", "rainbow"] if args.quick else args.algos
    if args.jobs > 1 and not args.report_only:
        run_parallel([(a, g, s) for g in games for a in algos for s in seeds
                      if not run_path(a, g, s, frames, args.quick).exists()], frames, args.quick, args.jobs)
    records = []
    for game in games:
        for algo in algos:
            for seed in seeds:
                path = run_path(algo, game, seed, frames, args.quick)
                if (args.report_only or args.jobs > 1) and not path.exists():
                    continue
                records.append(run_one(algo, game, seed, frames, args.quick, learner_threads=args.learner_threads))
                r = records[-1]
                print(f"  {game:9s} {algo:16s} seed {seed}: final {r['final_eval_return']:.2f} "
                      f"in {r['wall_s']:.0f} s", flush=True)
    rows, table = [], {}
    for game in games:
        for algo in algos:
            finals = [r["final_eval_return"] for r in records if r["game"] == game and r["algo"] == algo]
            walls = [r["wall_s"] for r in records if r["game"] == game and r["algo"] == algo]
            if not finals:
                continue
            mean = statistics.fmean(finals)
            std = statistics.stdev(finals) if len(finals) > 1 else 0.0
            table[f"{game}/{algo}"] = {"mean": mean, "std": std, "n": len(finals), "wall_s_mean": statistics.fmean(walls)}
            rows.append([game, algo, _mean_std(mean, std, len(finals)), len(finals), statistics.fmean(walls)])
    H.print_table(f"DQN family on MinAtar, {frames:,} frames per run", ["game", "algorithm", "final return",
                                                                        "seeds", "wall s"], rows)
    print("\n| game | algorithm | final greedy return, mean ± sample std | seeds | best eval (periodic or final), mean | "
          "learner steps | wall s, mean | concurrent runs |\n|---|---|---|---|---|---|---|---|")
    for game in games:
        for algo in algos:
            runs = [r for r in records if r["game"] == game and r["algo"] == algo]
            if not runs:
                continue
            cell = table[f"{game}/{algo}"]
            best = statistics.fmean(max(p["eval_return"] for p in r["curve"]) for r in runs)
            jobs = sorted({str(r.get("machine", {}).get("concurrent_jobs", "?")) for r in runs})
            print(f"| {game} | `{algo}` | {_mean_std(cell['mean'], cell['std'], cell['n'])} | {cell['n']} | {best:.2f} | "
                  f"{statistics.fmean(r['learner_steps'] for r in runs):,.0f} | {cell['wall_s_mean']:,.0f} | "
                  f"{', '.join(jobs)} |")
    png = Path(__file__).resolve().parent / "results" / f"{NAME}{'.quick' if args.quick else ''}.png"
    if records:
        plot(records, games, algos, png)
    first = games[0]
    rb, dq = table.get(f"{first}/rainbow", {}).get("mean", float("nan")), table.get(f"{first}/dqn", {}).get(
        "mean", float("nan"))
    result = {"apexrl": rb, "peer": dq, "ratio": H.ratio(rb, dq), "unit": "final_return",
              "ratio_definition": f"rainbow / dqn mean final greedy return on MinAtar {first}", "better": "higher",
              "target": "none (ablation)"}
    H.finish(NAME, result, figures={"table": table, "runs": records, "plot": str(png)}, peer="dqn (apexrl)",
             peer_version=None, quick=args.quick,
             settings={"frames": frames, "seeds": seeds, "games": games, "algos": algos},
             duration_s=time.perf_counter() - t0)


if __name__ == "__main__":
    main()
