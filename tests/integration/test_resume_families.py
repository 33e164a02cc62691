"""Resume after SIGTERM and after SIGKILL, family by family (issue 19).

The first part runs as a user runs it (``python -m apexrl.cli train ...`` in a subprocess) and
is stopped by a real signal: SIGTERM (it checkpoints and exits) or SIGKILL once a periodic
checkpoint exists and rows were logged after it. The resume runs the CLI's ``main`` in this
process, so the test can see the trainer's replay right after it was loaded: a wrapper around
``PrioritizedReplay.load_state_dict`` copies the replay's full state at that moment, and the
test compares it, array by array (every stored item, frame, link, stream table and priority),
with the checkpoint read back from disk with ``load_checkpoint``.

Every resume asserts: actors deliver experience afterwards (``actor_restarts`` 0, env_frames
reach the new budget), the replay and its priorities equal the checkpoint's item by item, the
counters continue from the checkpoint, ``metrics.csv`` is monotone in ``env_frames`` (rows a
killed run logged after its checkpoint were moved to ``metrics.after-ckpt-<steps>.csv``).

A new env family (MuJoCo, DM Control, POPGym) or agent is one more entry in ``FAMILIES`` (R2D2's
sequence replay is one, on POPGym and on Atari frames).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from apexrl.replay import PrioritizedReplay
from apexrl.runtime.checkpoint import checkpoint_dirs, load_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
COMMON = ["--replay-capacity", "5000", "--learning-starts", "500", "--batch-size", "32", "--eval-interval-frames", "0",
          "--final-eval-episodes", "1", "--no-progress", "--log-interval-s", "0.3", "--checkpoint-every", "0.03",
          "--samples-per-insert", "0", "--seed", "12345"]

# (algo, env, backend, extra flags, frames before the signal, frames added by the resume)
FAMILIES = [
    pytest.param("apex-dqn", "CartPole-v1", "local", ["--hidden-sizes", "32"], 1500, 1500, id="cartpole-local"),
    pytest.param("apex-dqn", "MinAtar/Breakout-v1", "mp", ["--preset", "minatar", "--actors", "2", "--envs-per-actor", "2",
                                               "--hidden-sizes", "32", "--eval-max-episode-steps", "300"],
                 1500, 1500, id="minatar-mp"),
    pytest.param("apex-dqn", "ALE/Pong-v5", "local", ["--preset", "atari", "--envs-per-actor", "2", "--hidden-sizes", "32",
                                          "--eval-max-episode-steps", "100"], 3000, 2000, id="atari-local"),
    # continuous actions, n-step DPG targets, priorities from the actors' critics, 2 actor processes
    pytest.param("apex-dpg", "Pendulum-v1", "mp", ["--preset", "pendulum", "--actors", "2", "--hidden-sizes", "32"],
                 1500, 1500, id="pendulum-apex-dpg-mp"),
    # sequences with stored LSTM state and per-sequence priorities (the replay counts sequences)
    pytest.param("r2d2", "popgym-PositionOnlyCartPoleEasy-v0", "mp",
                 ["--preset", "popgym", "--actors", "2", "--envs-per-actor", "2", "--lstm-size", "16",
                  "--hidden-sizes", "16", "--head-hidden", "16"], 6000, 2000, id="popgym-r2d2-mp"),
    # pixel frames stored once, sequences referring to them (SequenceFrameStorage)
    pytest.param("r2d2", "ALE/Pong-v5", "local", ["--preset", "atari", "--envs-per-actor", "2", "--lstm-size", "16",
                                          "--hidden-sizes", "32", "--head-hidden", "16", "--burn-in", "2",
                                          "--sequence-length", "4", "--sequence-period", "2",
                                          "--eval-max-episode-steps", "100"], 4400, 1600, id="atari-r2d2-local"),
]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _counters(ckpt_dir):
    with open(os.path.join(ckpt_dir, "state.json")) as f:
        return json.load(f)["counters"]


def _fps(env_id):
    return 4 if env_id.startswith("ALE/") else 1


def _first_part(run_dir, algo, env_id, backend, extra, frames, sig):
    """Train until ``frames`` env frames, then SIGTERM it, or SIGKILL it right after a checkpoint
    of at least ``frames`` frames once a metrics row was logged past that checkpoint."""
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "apexrl.cli", "train", algo, "--env", env_id,
                             "--backend", backend, "--frames", "10000000", "--run-dir", run_dir, *extra, *COMMON],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = os.path.join(run_dir, "metrics.csv")
    deadline = time.monotonic() + 180
    try:
        while True:
            assert time.monotonic() < deadline, "no training progress"
            if proc.poll() is not None:
                raise AssertionError(f"run ended early: {proc.stderr.read()}")
            last = _rows(metrics)[-1] if os.path.exists(metrics) and _rows(metrics) else None
            if last is not None and int(last["env_frames"]) >= frames and int(last["learner_steps"]) > 0:
                if sig == signal.SIGTERM:
                    break
                ckpts = checkpoint_dirs(run_dir)
                if ckpts and _counters(ckpts[0])["env_steps"] * _fps(env_id) >= frames and \
                        int(last["env_frames"]) > _counters(ckpts[0])["env_steps"] * _fps(env_id):
                    break
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == (128 + sig if sig == signal.SIGTERM else -sig), err
    return _rows(metrics)


def _same(saved, loaded, name):
    saved, loaded = np.asarray(saved), np.asarray(loaded)
    if saved.shape == (1,) and loaded.shape == ():  # counters: 0-d in memory, (1,) in the .npy files
        saved = saved.reshape(())
    assert saved.shape == loaded.shape and saved.dtype == loaded.dtype, name
    np.testing.assert_array_equal(saved, loaded, err_msg=name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
@pytest.mark.parametrize("algo, env_id, backend, extra, frames, more", FAMILIES)
def test_resume_continues_the_same_run(tmp_path, monkeypatch, algo, env_id, backend, extra, frames, more, sig):
    from apexrl.cli import main

    run_dir = str(tmp_path / "run")
    before = _first_part(run_dir, algo, env_id, backend, extra, frames, sig)
    ckpt = load_checkpoint(checkpoint_dirs(run_dir)[0])  # the checkpoint the resume starts from
    saved = ckpt.state["counters"]
    ckpt_frames = saved["env_steps"] * _fps(env_id)
    beyond = [r for r in before if int(r["env_frames"]) > ckpt_frames or int(r["learner_steps"]) >
              saved["learner_steps"]]
    if sig == signal.SIGKILL:
        assert beyond, "the killed run logged no row after its checkpoint: the cut is not exercised"

    loaded = []
    original = PrioritizedReplay.load_state_dict

    def capture(self, arrays, meta):
        original(self, arrays, meta)
        a, m = self.state_dict()
        loaded.append(({k: np.array(v) for k, v in a.items()}, json.loads(json.dumps(m))))

    monkeypatch.setattr(PrioritizedReplay, "load_state_dict", capture)
    target = ckpt_frames + more
    assert main(["train", algo, "--resume", run_dir, "--frames", str(target)]) == 0
    summary = json.load(open(os.path.join(run_dir, "summary.json")))

    # actors delivered experience after the resume: no crash, the new budget reached
    assert summary["actor_restarts"] == 0 and summary["resumes"] == 1
    assert summary["env_frames"] >= target > ckpt_frames
    # the replay right after loading equals the checkpoint's, item by item, priorities included
    assert len(loaded) == 1
    arrays, meta = loaded[0]
    assert sorted(arrays) == sorted(ckpt.arrays) and "priority_leaves" in arrays
    for name in arrays:
        _same(ckpt.arrays[name], arrays[name], name)
    assert meta == ckpt.state["replay"]
    assert meta["num_added"] == saved["inserted"] > 0
    # the counters continue from the checkpoint
    after = _rows(os.path.join(run_dir, "metrics.csv"))
    resumed = after[len(before) - len(beyond):]
    assert resumed and int(resumed[0]["env_frames"]) > ckpt_frames
    assert int(resumed[0]["learner_steps"]) >= saved["learner_steps"]
    assert int(resumed[0]["episodes"]) >= saved["episodes"]
    assert summary["learner_steps"] > saved["learner_steps"] and summary["episodes"] >= saved["episodes"]
    # metrics.csv is monotone: the rows up to the checkpoint, then the resumed timeline
    assert after[:len(before) - len(beyond)] == [r for r in before if r not in beyond]
    for col in ("env_frames", "learner_steps", "episodes"):
        values = [int(r[col]) for r in after]
        assert values == sorted(values), col
    frames_col = [int(r["env_frames"]) for r in after[:-1]]  # the final row may repeat the last point
    assert len(set(frames_col)) == len(frames_col)  # one row per point of the timeline
    side = os.path.join(run_dir, f"metrics.after-ckpt-{saved['learner_steps']}.csv")
    if beyond:
        assert _rows(side) == beyond  # moved, not lost
    else:
        assert not os.path.exists(side)
