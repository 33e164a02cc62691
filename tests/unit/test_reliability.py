"""Crash accounting, the replay memory check and the learner's non-finite stop."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from apexrl.algos import apex_dqn
from apexrl.config import ApexDQNConfig, DQNConfig, ReplayConfig, RunConfig
from apexrl.envs import env_info
from apexrl.replay import ArrayStorage, FrameStorage
from apexrl.runtime.actor import ActorError, ActorRestarts
from apexrl.runtime.checkpoint import checkpoint_dirs
from apexrl.runtime.trainer import LearnerError, available_memory_bytes, build_replay, replay_bytes_needed, train


def test_restart_backoff_doubles_up_to_a_cap_then_stops():
    r = ActorRestarts(num_actors=2, max_restarts=4, backoff_s=0.5, max_backoff_s=1.5)
    assert [r.crashed(1, f"boom {i}") for i in range(4)] == [0.5, 1.0, 1.5, 1.5]
    assert r.counts == [0, 4] and r.total == 4
    assert r.crashed(0, "other") == 0.5  # per actor
    with pytest.raises(ActorError, match=r"actor 1 failed 5 times \(--max-actor-restarts 4\); last error: boom 4"):
        r.crashed(1, "boom 4")
    with pytest.raises(ActorError, match="actor 0 failed once"):
        ActorRestarts(1, max_restarts=0).crashed(0, "x")


@pytest.mark.parametrize("env_id", ["CartPole-v1", "ALE/Pong-v5"])
def test_replay_bytes_needed_matches_the_allocation(env_id):
    info = env_info(env_id)
    config = ReplayConfig(replay_capacity=3000, learning_starts=100)
    replay = build_replay(config, info)
    assert replay_bytes_needed(config, info) == replay.nbytes
    assert isinstance(replay.storage, FrameStorage if env_id.startswith("ALE/") else ArrayStorage)


def test_replay_that_does_not_fit_fails_before_allocating():
    available = available_memory_bytes()
    assert available is not None and available > 0
    info = env_info("ALE/Pong-v5")
    capacity = int(available / 7000) * 2  # twice what fits at ~7 KB per Atari transition
    with pytest.raises(ValueError) as err:
        build_replay(ReplayConfig(replay_capacity=capacity), info)
    message = str(err.value)
    assert "--replay-capacity" in message and "bytes" in message and "available" in message
    needed = replay_bytes_needed(ReplayConfig(replay_capacity=capacity), info)
    assert f"{needed:,}" in message


def _tiny(run_dir: str, **learner) -> ApexDQNConfig:
    preset = apex_dqn.cartpole()
    run = RunConfig(env_id="CartPole-v1", total_env_frames=1500, backend="local", num_actors=1, run_dir=run_dir,
                    eval_interval_frames=0, final_eval_episodes=2, progress=False, tensorboard=False,
                    log_interval_s=0.2, checkpoint_every_min=0)
    return ApexDQNConfig(run=run, replay=ReplayConfig(replay_capacity=5000, learning_starts=200),
                         actor=preset.actor, learner=DQNConfig(batch_size=32, hidden_sizes=(16,), **learner))


def test_consecutive_non_finite_updates_stop_without_touching_the_checkpoint(tmp_path, monkeypatch):
    run_dir = str(tmp_path / "run")
    summary = train(_tiny(run_dir))
    assert summary["checkpoint"] and summary["skipped_updates"] == 0
    ckpt = checkpoint_dirs(run_dir)[0]
    files = {name: os.path.getmtime(os.path.join(ckpt, name)) for name in os.listdir(ckpt)}
    marker = open(os.path.join(ckpt, "COMPLETE")).read()

    import apexrl.runtime.learner as learner_module

    real = learner_module.dqn_loss

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        return out._replace(loss=out.loss * float("nan"))

    monkeypatch.setattr(learner_module, "dqn_loss", poisoned)
    config = _tiny(run_dir, max_consecutive_nonfinite=5)
    config = ApexDQNConfig(run=RunConfig(**{**config.run.__dict__, "total_env_frames": 4000,
                                            "checkpoint_every_min": 1e-6}),
                           replay=config.replay, actor=config.actor, learner=config.learner)
    with pytest.raises(LearnerError, match=r"5 consecutive learner steps .*--max-consecutive-nonfinite 5"):
        train(config, resume=run_dir)
    assert checkpoint_dirs(run_dir) == [ckpt]
    assert {name: os.path.getmtime(os.path.join(ckpt, name)) for name in os.listdir(ckpt)} == files
    assert open(os.path.join(ckpt, "COMPLETE")).read() == marker
    state = json.load(open(os.path.join(ckpt, "state.json")))
    assert state["counters"]["learner_steps"] == summary["learner_steps"]


def test_a_skipped_update_changes_nothing():
    from apexrl.types import SampledBatch, Transitions
    from apexrl.runtime.learner import DQNLearner

    learner = DQNLearner(DQNConfig(hidden_sizes=(8,)), env_info("CartPole-v1"))
    before = {k: v.clone() for k, v in learner.online.state_dict().items()}
    n = 4
    data = Transitions(obs=np.zeros((n, 4), np.float32), action=np.zeros(n, np.int64),
                       reward=np.array([0, np.nan, 0, 0], np.float32), discount=np.ones(n, np.float32),
                       next_obs=np.zeros((n, 4), np.float32))
    priorities, _ = learner.update(SampledBatch(keys=np.arange(n), data=data, weights=np.ones(n, np.float32)))
    assert learner.skipped_updates == learner.consecutive_skipped == 1
    assert np.isfinite(priorities).all()
    for k, v in learner.online.state_dict().items():
        assert torch.equal(v, before[k])
