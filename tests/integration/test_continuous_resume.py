"""A continuous agent through the CLI as a user runs it: TD3 on Pendulum-v1 trains, finishes,
and a resume with a larger budget continues its counters, replay and learner state; the exported
policy acts in the Box's units."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np

SMALL = ["--env", "Pendulum-v1", "--preset", "pendulum", "--learning-starts", "200", "--random-action-frames", "200",
         "--batch-size", "32", "--hidden-sizes", "16", "16", "--samples-per-insert", "32", "--eval-interval-frames",
         "0", "--final-eval-episodes", "1", "--no-progress", "--log-interval-s", "0.5", "--seed", "4"]


def _cli(*args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "apexrl.cli", *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]


def _summary(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def test_td3_resumes_with_counters_and_replay_and_exports(tmp_path):
    run_dir = str(tmp_path / "td3")
    _cli("train", "td3", *SMALL, "--frames", "800", "--run-dir", run_dir)
    first = _summary(run_dir)
    assert first["env_frames"] >= 800 and first["learner_steps"] > 0
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    assert saved["algo"] == "td3" and saved["config"]["learner"]["twin_critics"] is True
    _cli("train", "td3", "--resume", run_dir, "--frames", "1600", "--no-progress")
    second = _summary(run_dir)
    assert second["env_frames"] >= 1600
    assert second["learner_steps"] > first["learner_steps"]
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    frames = [int(r["env_frames"]) for r in rows]
    assert frames == sorted(frames)
    resumed = [r for r in rows if int(r["env_frames"]) > first["env_frames"]]
    assert resumed and int(resumed[0]["replay_size"]) > first["env_frames"] - 10  # the replay came back
    out = str(tmp_path / "policy.safetensors")
    _cli("export", run_dir, out)
    from apexrl.runtime.policy import load_policy

    policy = load_policy(out)
    actions = np.asarray(policy.act(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -3.0]], np.float32)))
    assert actions.shape == (2, 1) and np.abs(actions).max() <= 2.0  # Pendulum's Box(-2, 2)
