"""Does Ape-X DQN learn? CartPole-v1 with the cartpole preset's settings and two actor processes,
stopped as soon as a periodic greedy evaluation reaches 200 (random play: about 22).

Solving CartPole (475) takes 100K-110K frames, 78-127 s on an idle 2-core machine and over 370 s
on a loaded one (seed 0 on 2026-12-02: evaluations 156 at 21K frames, 193 at 46K, 236 at 58K, 500
at 110K); that figure is measured by ``benchmarks/cartpole_time_to_solve.py``, not here. The test
asks the learning question on a budget that fits the suite."""

import dataclasses

import pytest

from apexrl.runtime.run import train  # noqa: E402
from apexrl.agents.dqn import apex_dqn
from apexrl.config import ApexDQNConfig, RunConfig

pytestmark = pytest.mark.learning

FRAMES = 100_000
"""The preset's budget: the upper bound; runs stop at the first evaluation of 200 or more."""


def test_apex_dqn_learns_cartpole(tmp_path):
    preset = apex_dqn.cartpole()
    run = RunConfig(**{**preset.run.__dict__, "run_dir": str(tmp_path / "run"), "seed": 0, "progress": False,
                       "num_actors": 2, "backend": "mp", "total_env_frames": FRAMES, "tensorboard": False,
                       "eval_interval_frames": 4_000, "stop_eval_return": 200.0})
    replay = dataclasses.replace(preset.replay, replay_capacity=FRAMES)
    config = ApexDQNConfig(run=run, replay=replay, actor=preset.actor, learner=preset.learner)
    summary = train(config, "apex-dqn")
    assert summary["stopped_early"], summary["eval_history"]  # an evaluation reached 200 within the budget
    assert summary["best_eval_return"] >= 200
    # the final evaluation is 20 other greedy episodes of the same network: well above random play
    assert summary["final_eval_return"] >= 120, summary["eval_history"]
    assert summary["num_actors"] == 2
