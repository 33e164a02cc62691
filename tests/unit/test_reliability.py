"""Crash accounting, the replay memory check and the learner's non-finite stop."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from apexrl.agents.dqn import apex_dqn
from apexrl.config import ApexDQNConfig, DQNConfig, ReplayConfig, RunConfig
from apexrl.envs import env_info
from apexrl.replay import ArrayStorage, FrameStorage
from apexrl.runtime.actor import ActorError, ActorRestarts
from apexrl.runtime.checkpoint import checkpoint_dirs
from apexrl.replay.build import available_memory_bytes, build_replay, replay_bytes_needed
from apexrl.runtime.run import train
from apexrl.runtime.trainer import LearnerError


def test_restart_backoff_doubles_up_to_a_cap_then_a_crash_loop_stops():
    r = ActorRestarts(num_actors=2, max_restarts=4, backoff_s=0.5, max_backoff_s=1.5)
    assert [r.crashed(1, f"boom {i}") for i in range(4)] == [0.5, 1.0, 1.5, 1.5]
    assert r.counts == [0, 4] and r.total == 4 and r.streak == [0, 4]
    assert r.crashed(0, "other") == 0.5  # per actor
    with pytest.raises(ActorError, match=r"actor 1 failed 5 times in a row without delivering any experience "
                                         r"\(--max-actor-restarts 4: a crash loop, after 4 restarts of this actor "
                                         r"in all\); last error: boom 4"):
        r.crashed(1, "boom 4")
    with pytest.raises(ActorError, match="actor 0 failed once without delivering"):
        ActorRestarts(1, max_restarts=0).crashed(0, "x")


def test_a_delivery_makes_restarts_free_so_faults_between_progress_never_stop_the_run():
    r = ActorRestarts(num_actors=1, max_restarts=2, backoff_s=0.5, max_backoff_s=4.0)
    for i in range(1000):  # a flaky simulator: one crash, then experience again, for ever
        assert r.crashed(0, f"flaky {i}") == 0.5  # the back-off starts again after each delivery
        r.delivered(0)
    assert r.counts == [1000] and r.streak == [0]  # every restart is still counted
    assert r.crashed(0, "a") == 0.5 and r.crashed(0, "b") == 1.0  # then a real loop: 2 free, the 3rd stops
    with pytest.raises(ActorError, match="3 times in a row .* after 1002 restarts of this actor in all"):
        r.crashed(0, "c")


def test_the_seed_generations_of_a_session_bound_the_restarts_of_one_actor(monkeypatch):
    import apexrl.runtime.actor as actor_module

    monkeypatch.setattr(actor_module, "GENERATIONS_PER_RESUME", 4)
    r = ActorRestarts(num_actors=1, max_restarts=100)
    for _ in range(3):
        r.crashed(0, "x")
        r.delivered(0)
    with pytest.raises(ActorError, match="restarted 3 times in this session, which uses up its seed generations"):
        r.crashed(0, "y")


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
    summary = train(_tiny(run_dir), "apex-dqn")
    assert summary["checkpoint"] and summary["skipped_updates"] == 0
    ckpt = checkpoint_dirs(run_dir)[0]
    files = {name: os.path.getmtime(os.path.join(ckpt, name)) for name in os.listdir(ckpt)}
    marker = open(os.path.join(ckpt, "COMPLETE")).read()

    import apexrl.agents.dqn.learner as learner_module

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
        train(config, "apex-dqn", resume=run_dir)
    assert checkpoint_dirs(run_dir) == [ckpt]
    assert {name: os.path.getmtime(os.path.join(ckpt, name)) for name in os.listdir(ckpt)} == files
    assert open(os.path.join(ckpt, "COMPLETE")).read() == marker
    state = json.load(open(os.path.join(ckpt, "state.json")))
    assert state["counters"]["learner_steps"] == summary["learner_steps"]


def test_a_skipped_update_changes_nothing():
    from apexrl.types import SampledBatch, Transitions
    from apexrl.agents.dqn.learner import DQNLearner

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


def test_checkpoint_holds_exactly_the_finished_run(tmp_path):
    """Resume equivalence: what a resume loads is the run's state, item for item."""
    from apexrl.runtime.checkpoint import load_latest
    from apexrl.agents.dqn.learner import DQNLearner
    from apexrl.runtime.policy import load_run_network

    run_dir = str(tmp_path / "run")
    config = _tiny(run_dir)
    summary = train(config, "apex-dqn")
    ckpt = load_latest(run_dir)
    counters = ckpt.state["counters"]
    assert (counters["env_steps"], counters["learner_steps"], counters["episodes"]) == (
        summary["env_steps"], summary["learner_steps"], summary["episodes"])
    info = env_info("CartPole-v1")
    learner = DQNLearner(config.learner, info, seed=123)
    learner.load_state_dict(ckpt.tensors, ckpt.state["learner"])
    assert learner.steps == summary["learner_steps"]
    adam_steps = {float(v) for k, v in ckpt.tensors.items() if k.startswith("optimizer.") and k.endswith(".step")}
    assert adam_steps == {float(summary["learner_steps"])}  # Adam's bias correction continues where it was
    final, _, _ = load_run_network(run_dir)
    obs = torch.from_numpy(np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32))
    with torch.no_grad():
        np.testing.assert_array_equal(learner.online(obs).argmax(1).numpy(), final(obs).argmax(1).numpy())
        np.testing.assert_array_equal(learner.online(obs).numpy(), final(obs).numpy())
    replay = build_replay(config.replay, info)
    replay.load_state_dict(ckpt.arrays, ckpt.state["replay"])
    assert len(replay) == summary["replay_size"] and replay.num_added == summary["replay_size"]
    leaves = replay.sum_tree.get(np.arange(len(replay)))
    assert (leaves > 0).all() and len(set(np.round(leaves, 9))) > 10  # learned priorities, not a fresh default
    obs_rows = replay.storage.obs[:len(replay)]
    assert np.abs(obs_rows).sum(axis=1).min() > 0  # every slot holds a real CartPole state


def _failing_save_file(fail_calls, calls):
    """``safetensors.torch.save_file`` that raises safetensors' own error type (as on a full disk)
    on the checkpoint writes numbered in ``fail_calls`` (1-based); other writes go through."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    def save(tensors, path):
        if ".tmp-ckpt-" in path:
            calls.append(path)
            if len(calls) in fail_calls:
                with open(path, "wb") as f:  # a partial file, as the full disk leaves it
                    f.write(b"partial")
                raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        save_file(tensors, path)
    return save


def test_serializer_error_while_checkpointing_is_logged_and_training_goes_on(tmp_path, monkeypatch, caplog):
    import csv
    import dataclasses
    import logging

    import apexrl.runtime.checkpoint as ckpt_module
    from apexrl.runtime.checkpoint import load_latest

    calls = []
    monkeypatch.setattr(ckpt_module, "save_file", _failing_save_file({1}, calls))
    config = _tiny(str(tmp_path / "run"))
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, total_env_frames=3000,
                                                                 checkpoint_every_min=0.002))
    with caplog.at_level(logging.ERROR, logger="apexrl"):
        summary = train(config, "apex-dqn")
    assert len(calls) >= 2, calls  # the first write failed, later ones were made (and the run finished)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "SafetensorError" in errors[0] and "training goes on" in errors[0]
    assert len(summary["checkpoint_errors"]) == 1 and "No space left on device" in summary["checkpoint_errors"][0]
    assert summary["env_frames"] >= 3000 and os.path.exists(tmp_path / "run" / "model.safetensors")
    assert json.load(open(tmp_path / "run" / "summary.json"))["checkpoint_errors"] == summary["checkpoint_errors"]
    assert load_latest(str(tmp_path / "run")).state["counters"]["learner_steps"] == summary["learner_steps"]
    assert not [n for n in os.listdir(tmp_path / "run" / "checkpoints") if not n.startswith("ckpt-")]
    with open(tmp_path / "run" / "metrics.csv") as f:
        counts = [int(r["checkpoint_errors"]) for r in csv.DictReader(f)]
    assert counts[-1] == 1 and counts == sorted(counts)


def test_checkpoints_failing_past_the_bound_stop_the_run_keeping_the_last_good_one(tmp_path, monkeypatch):
    import dataclasses

    import apexrl.runtime.checkpoint as ckpt_module
    from apexrl.runtime.checkpoint import CheckpointError, load_latest

    calls = []
    monkeypatch.setattr(ckpt_module, "save_file", _failing_save_file(set(range(2, 100)), calls))
    config = _tiny(str(tmp_path / "run"))
    config = dataclasses.replace(config, run=dataclasses.replace(
        config.run, total_env_frames=1_000_000, checkpoint_every_min=0.002, max_checkpoint_failures=2))
    with pytest.raises(CheckpointError, match=r"2 checkpoint\(s\) in a row could not be written "
                                              r"\(--max-checkpoint-failures 2\).*last good checkpoint is .*ckpt-"):
        train(config, "apex-dqn")
    assert len(calls) == 3
    run_dir = str(tmp_path / "run")
    good = load_latest(run_dir)  # the first checkpoint, complete and verified
    first_step = os.path.basename(os.path.dirname(calls[0])).split("-")[2]  # .tmp-ckpt-<step>-<pid>
    assert os.path.basename(good.path) == f"ckpt-{first_step}"
    assert os.listdir(os.path.join(run_dir, "checkpoints")) == [os.path.basename(good.path)]
    assert not os.path.exists(os.path.join(run_dir, "summary.json"))


def test_leftover_temp_checkpoint_is_removed_when_the_run_resumes(tmp_path):
    import dataclasses

    run_dir = str(tmp_path / "run")
    train(_tiny(run_dir), "apex-dqn")
    leftover = os.path.join(run_dir, "checkpoints", ".tmp-ckpt-000000099999-4242")
    os.makedirs(os.path.join(leftover, "arrays"))
    with open(os.path.join(leftover, "tensors.safetensors"), "wb") as f:
        f.write(b"partial")
    seen = []
    config = _tiny(run_dir)
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, total_env_frames=4000))
    summary = train(config, "apex-dqn", resume=run_dir, progress_hook=lambda row: seen.append(os.path.exists(leftover)))
    assert seen and not any(seen)  # already gone while training, before the resumed run's first checkpoint
    assert summary["resumes"] == 1 and not os.path.exists(leftover)


def test_truncated_message_from_a_dead_actor_is_dropped_whole():
    """One pipe per actor: a message cut off by the actor's death is never inserted, complete
    messages before it are, and the actor is scheduled for a restart."""
    import multiprocessing as mp
    import struct

    from apexrl.backends.mp import ProcessSource
    from apexrl.runtime.actor import ActorMessage
    from apexrl.runtime.params import SharedParams
    from apexrl.types import Transitions

    config = _tiny("unused")
    info = env_info("CartPole-v1")
    source = ProcessSource(config, "apex-dqn", info, SharedParams(torch.nn.Linear(2, 2)), mp.get_context("spawn"))
    items = Transitions(obs=np.ones((2, 4), np.float32), action=np.zeros(2, np.int64), reward=np.ones(2, np.float32),
                        discount=np.ones(2, np.float32), next_obs=np.ones((2, 4), np.float32))
    good = ActorMessage(actor=0, items=items, priorities=np.ones(2, np.float32), env_steps=2)
    fork = mp.get_context("fork")
    reader, writer = fork.Pipe(duplex=False)

    def dying_actor(conn):
        conn.send(good)
        os.write(conn.fileno(), struct.pack("!i", 10_000) + b"half a message")  # header says 10 KB
        os._exit(0)

    process = fork.Process(target=dying_actor, args=(writer,))
    process.start()
    writer.close()
    process.join(5)
    slot = source.slots[0]
    slot.process, slot.conn, slot.generation = process, reader, 0
    messages = source.poll(max_messages=64, timeout=1.0)
    assert len(messages) == 1 and messages[0].env_steps == 2
    np.testing.assert_array_equal(messages[0].items.obs, items.obs)
    assert source.restarts.counts[0] == 1 and slot.conn is None and slot.restart_at is not None
    source.slots[0].restart_at = None  # do not start a real actor in a unit test
    source.stop()


def test_failed_checkpoint_at_a_signal_is_reported_not_claimed_saved(tmp_path, monkeypatch, capsys):
    import signal
    import apexrl.runtime.checkpoint as ckpt_module
    from apexrl.cli import _report_train

    calls = []
    monkeypatch.setattr(ckpt_module, "save_file", _failing_save_file({1}, calls))
    config = _tiny(str(tmp_path / "run"))
    summary = train(config, "apex-dqn", stop_requests=[signal.SIGTERM])  # stops at once; its only save fails
    assert len(calls) == 1 and summary["interrupted"] == "SIGTERM" and summary["checkpoint"] is None
    assert "No space left on device" in summary["checkpoint_error"]
    code = _report_train("apex-dqn", summary)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 128 + signal.SIGTERM
    assert "saved nothing (could not write checkpoint" in err and "newest good checkpoint: none" in err
    assert "not finite" not in err


def test_a_zombie_learner_counts_as_gone_for_its_workers():
    """A learner killed while nobody has reaped it yet is a zombie: its workers (children of the
    fork server, which outlives it while they hold its pipe) must still see it gone."""
    import subprocess
    import sys
    import time

    from apexrl.backends.mp import _alive, _ParentWatch

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _alive(child.pid)
        watch = _ParentWatch(child.pid)  # our parent is not that process: only its liveness counts
        assert not watch.gone()
        child.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # not reaped: a zombie
            with open(f"/proc/{child.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        assert not _alive(child.pid)
        watch._next_check = 0.0
        assert watch.gone()
    finally:
        child.kill()
        child.wait()
    assert not _alive(child.pid)
