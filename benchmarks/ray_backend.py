"""Frames/s and learner steps/s of ``--backend ray`` vs the default ``mp`` backend, same job, same machine.

The job is the CartPole preset (``apexrl train apex-dqn --env CartPole-v1 --preset cartpole``,
2 actors; ``--replay-shards 1``), run through the real CLI in a fresh process per run, so each
figure includes everything a user pays for (Ray's own processes, remote calls, the object
store). Figures are the run's ``env_frames_per_s`` and ``learner_steps_per_s`` from
``summary.json`` (training wall time, start-up included). The preset's samples-per-insert
rate limit ties the two: 16 samples per inserted transition, so frames/s = learner steps/s x
64 / 16. Runs alternate between backends. The peer here is apexrl's own default backend:
Ray has to earn its place (target: Ray >= 0.8 x the default's frames/s on one machine).

    python benchmarks/ray_backend.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "ray_backend"


def run_once(backend: str, frames: int, seed: int) -> dict:
    run_dir = os.path.join(tempfile.mkdtemp(prefix=f"apexrl-bench-{backend}-"), "run")
    cmd = [sys.executable, "-m", "apexrl.cli", "train", "apex-dqn", "--env", "CartPole-v1", "--preset", "cartpole",
           "--frames", str(frames), "--seed", str(seed), "--backend", backend, "--run-dir", run_dir, "--no-progress",
           "--checkpoint-every", "0"]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"{backend} run failed:\n{res.stderr[-3000:]}")
    with open(os.path.join(run_dir, "summary.json")) as f:
        s = json.load(f)
    return {"backend": backend, "seed": seed, "env_frames_per_s": s["env_frames_per_s"],
            "learner_steps_per_s": s["learner_steps_per_s"], "final_eval_return": s["final_eval_return"],
            "train_wall_s": s["train_wall_s"], "process_wall_s": wall, "env_frames": s["env_frames"],
            "actors_per_node": s.get("actors_per_node")}


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0])
    t_start = time.perf_counter()
    frames = 30_000 if args.quick else 100_000
    reps = 1 if args.quick else 3
    records: dict[str, list[dict]] = {"mp": [], "ray": []}

    def measure(backend: str):
        def once() -> float:
            r = run_once(backend, frames, seed=len(records[backend]))
            records[backend].append(r)
            print(f"  {backend:4s} seed {r['seed']}: {H.fmt(r['env_frames_per_s'])} frames/s, "
                  f"{H.fmt(r['learner_steps_per_s'])} learner steps/s, final return {r['final_eval_return']}, "
                  f"train {H.fmt(r['train_wall_s'])} s", flush=True)
            return r["env_frames_per_s"]

        return once

    samples = H.interleaved({b: measure(b) for b in records}, reps)
    fps = {b: H.spread(v) for b, v in samples.items()}
    lps = {b: H.spread([r["learner_steps_per_s"] for r in records[b]]) for b in records}
    r_fps = H.ratio(fps["ray"]["median"], fps["mp"]["median"])
    r_lps = H.ratio(lps["ray"]["median"], lps["mp"]["median"])
    H.print_table(f"CartPole-v1 cartpole preset, {frames} frames, 2 actors, {reps} runs per backend",
                  ["backend", "frames/s (median)", "learner steps/s (median)", "final returns", "ray / mp (frames/s)"],
                  [["mp (default)", fps["mp"]["median"], lps["mp"]["median"],
                    " ".join(str(r["final_eval_return"]) for r in records["mp"]), 1.0],
                   ["ray, 1 replay shard", fps["ray"]["median"], lps["ray"]["median"],
                    " ".join(str(r["final_eval_return"]) for r in records["ray"]), r_fps]])
    import ray

    H.finish(
        NAME,
        {"apexrl": fps["ray"]["median"], "peer": fps["mp"]["median"], "ratio": r_fps, "unit": "frames_per_s",
         "ratio_definition": "--backend ray env frames/s / --backend mp env frames/s (same job)",
         "better": "higher", "target": ">= 0.8", "ratio_learner_steps_per_s": r_lps},
        figures={"env_frames_per_s": fps, "learner_steps_per_s": lps, "runs": records},
        peer="apexrl --backend mp (the default)",
        peer_version=f"ray {ray.__version__}",
        quick=args.quick,
        threads={"mode": "each run a fresh CLI process; Ray starts a local instance bound to 127.0.0.1"},
        settings={"job": "apex-dqn --preset cartpole", "frames": frames, "reps": reps, "replay_shards": 1},
        notes=["Start-up (Ray instance, actor processes) is inside the training wall time of each run."],
        duration_s=time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
