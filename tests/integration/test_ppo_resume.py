"""``ppo`` stopped by SIGTERM and resumed (as tests/integration/test_resume_families.py does for the
off-policy families): the first part runs the CLI in a subprocess and is stopped by a real signal
(it checkpoints and exits); the resume runs ``main`` in this process, so the test sees the learner
and the rollout queue right after they were loaded and compares them with the checkpoint on disk."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from apexrl.agents.ac.learner import ActorCriticLearner
from apexrl.replay.rollout import RolloutQueue
from apexrl.runtime.checkpoint import checkpoint_dirs, load_checkpoint

FLAGS = ["--env", "CartPole-v1", "--preset", "cartpole", "--eval-interval-frames", "0", "--final-eval-episodes", "1",
         "--no-progress", "--log-interval-s", "0.3", "--checkpoint-every", "0.03", "--seed", "7"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_ppo_resume_after_sigterm(tmp_path, monkeypatch):
    from apexrl.cli import main

    run_dir = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "apexrl.cli", "train", "ppo", *FLAGS, "--frames", "10000000",
                             "--run-dir", run_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(run_dir, "metrics.csv")
    deadline = time.monotonic() + 180
    try:
        while True:
            assert time.monotonic() < deadline, "no training progress"
            if proc.poll() is not None:
                raise AssertionError(f"run ended early: {proc.stderr.read()}")
            rows = _rows(metrics) if os.path.exists(metrics) else []
            if rows and int(rows[-1]["env_frames"]) >= 4000 and int(rows[-1]["learner_steps"]) > 0:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    before = _rows(metrics)
    ckpt = load_checkpoint(checkpoint_dirs(run_dir)[0])
    saved = ckpt.state["counters"]
    assert saved["learner_steps"] > 0 and ckpt.state["learner"]["learner"] == "actor_critic"

    loaded: dict = {}
    queue_load, learner_load = RolloutQueue.load_state_dict, ActorCriticLearner.load_state_dict

    def capture_queue(self, arrays, meta):
        queue_load(self, arrays, meta)
        loaded["queue"] = (len(self), self.state_dict())

    def capture_learner(self, tensors, meta):
        learner_load(self, tensors, meta)
        loaded["network"] = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        loaded["optimizer"] = {i: {k: v.detach().clone() for k, v in st.items()}
                               for i, st in self.optimizer.state_dict()["state"].items()}
        loaded["clip_range"] = self.clip_range

    monkeypatch.setattr(RolloutQueue, "load_state_dict", capture_queue)
    monkeypatch.setattr(ActorCriticLearner, "load_state_dict", capture_learner)
    target = saved["env_steps"] + 2048
    assert main(["train", "ppo", "--resume", run_dir, "--frames", str(target)]) == 0
    summary = json.load(open(os.path.join(run_dir, "summary.json")))

    # the network, the Adam moments and the annealed clip ε are the checkpoint's
    for name, value in loaded["network"].items():
        torch.testing.assert_close(value, ckpt.tensors[f"online.{name}"], rtol=0, atol=0)
    torch.testing.assert_close(loaded["optimizer"][0]["exp_avg"], ckpt.tensors["optimizer.0.exp_avg"])
    assert loaded["clip_range"] == ckpt.state["learner"]["clip_range"] < 0.2
    # the rollout queue is the checkpoint's (the rollouts waiting for the learner, if any)
    held, (arrays, meta) = loaded["queue"]
    assert meta == ckpt.state["replay"] and held == saved["inserted"] - 256 * saved["learner_steps"]
    for name, value in arrays.items():
        np.testing.assert_array_equal(value, ckpt.arrays[name], err_msg=name)
    # the run continues: counters from the checkpoint, the new budget reached, metrics monotone
    assert summary["resumes"] == 1 and summary["actor_restarts"] == 0
    assert summary["env_frames"] >= target and summary["learner_steps"] > saved["learner_steps"]
    after = _rows(metrics)
    assert len(after) > len(before) - 2
    for col in ("env_frames", "learner_steps", "episodes"):
        values = [int(r[col]) for r in after]
        assert values == sorted(values), col
    # the exported policy acts greedily (the argmax of the logits)
    out = str(tmp_path / "policy.safetensors")
    assert main(["export", run_dir, out]) == 0
    from apexrl.runtime.policy import load_policy

    policy = load_policy(out)
    actions = policy.act(np.array([[0, 0, 0.05, 0.5], [0, 0, -0.05, -0.5]], np.float32))
    assert actions.dtype == np.int64 and actions.shape == (2,)
    net = policy.network
    with torch.no_grad():
        logits = net(torch.tensor([[0, 0, 0.05, 0.5], [0, 0, -0.05, -0.5]]))
    np.testing.assert_array_equal(actions, logits.argmax(-1).numpy())
