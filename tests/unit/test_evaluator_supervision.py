"""The evaluator is supervised like actors: failures are logged with their traceback and it goes
on; a dead evaluator process is started again; a crash loop stops the run with the last error."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import signal
import time

import pytest

import apexrl.backends.local as local_backend
from apexrl.agents.dqn.apex_dqn import cartpole
from apexrl.backends import LocalEvaluator, ProcessEvaluator
from apexrl.envs import env_info
from apexrl.nets import build_dqn_network
from apexrl.runtime.actor import ActorError
from apexrl.runtime.params import SharedParams


def _config(max_restarts: int = 2):
    base = cartpole()
    run = dataclasses.replace(base.run, eval_episodes=1, eval_max_episode_steps=20,
                              max_evaluator_restarts=max_restarts)
    return dataclasses.replace(base, run=run, learner=dataclasses.replace(base.learner, hidden_sizes=(8,)))


def test_local_evaluation_failures_are_logged_then_a_crash_loop_stops(monkeypatch, caplog):
    config = _config(max_restarts=2)
    net = build_dqn_network(config.learner, env_info("CartPole-v1"))
    calls = []

    def flaky(algo, network, run, index, env_kwargs, tag=None):
        calls.append(index)
        if len(calls) in (1, 3, 4, 5):
            raise RuntimeError(f"renderer crashed {len(calls)}")
        return [1.0]

    monkeypatch.setattr(local_backend, "periodic_evaluation", flaky)
    ev = LocalEvaluator(config, "apex-dqn", net, {})
    with caplog.at_level(logging.WARNING, logger="apexrl"):
        assert ev.request({"env_frames": 1}) and ev.poll() == []  # failed, logged, goes on
        assert ev.request({"env_frames": 2}) and ev.poll() == [({"env_frames": 2}, [1.0])]  # the streak resets
        ev.request({"env_frames": 3})
        ev.request({"env_frames": 4})
        with pytest.raises(ActorError, match=r"evaluator 0 failed 3 times in a row without delivering a result "
                                             r"\(--max-evaluator-restarts 2: a crash loop.*renderer crashed 5"):
            ev.request({"env_frames": 5})
    assert "Traceback" in caplog.text and "renderer crashed 1" in caplog.text
    assert calls == [0, 1, 2, 3, 4]  # every evaluation has its own index (its own seeds)


def test_a_killed_evaluator_process_is_started_again_and_evaluates():
    config = _config()
    info = env_info("CartPole-v1")
    net = build_dqn_network(config.learner, info)
    ctx = mp.get_context("spawn")
    params = SharedParams(net, ctx)
    params.publish(net)
    ev = ProcessEvaluator(config, "apex-dqn", info, params, ctx, {})
    try:
        first = ev.process
        os.kill(first.pid, signal.SIGKILL)
        first.join(timeout=10)
        assert not ev.request({"env_frames": 1})  # found dead: restarted after the back-off
        assert ev.restarts.counts == [1]
        results, deadline = [], time.monotonic() + 120
        while not results and time.monotonic() < deadline:
            ev.request({"env_frames": 2})
            results = ev.poll()
            time.sleep(0.05)
        assert ev.process is not first and results and results[0][0] == {"env_frames": 2}
        assert ev.restarts.streak == [0]  # a finished evaluation ends the streak
    finally:
        ev.stop()
