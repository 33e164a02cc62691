"""Does PPO learn? ``ppo`` on CartPole-v1 with the cartpole preset (the SB3 zoo's settings: one
actor of 8 envs in the learner's process, 100K frames), seed 0."""

import dataclasses

import pytest

from apexrl.agents import get_agent
from apexrl.runtime.run import train

pytestmark = pytest.mark.learning


def test_ppo_solves_cartpole(tmp_path):
    preset = get_agent("ppo").presets["cartpole"]()
    run = dataclasses.replace(preset.run, run_dir=str(tmp_path / "run"), seed=0, progress=False,
                              eval_interval_frames=0, tensorboard=False)
    summary = train(dataclasses.replace(preset, run=run), "ppo")
    # the bar: a 20-episode greedy mean >= 475 (the episode cap is 500)
    assert summary["final_eval_return"] >= 475, summary["eval_history"]
    assert summary["env_frames"] >= preset.run.total_env_frames
    # one learner step per rollout of 8 envs x 32 steps, each rollout used once; the last one
    # arrives with the budget reached and is not learned from
    assert summary["learner_steps"] == summary["env_frames"] // 256 - 1
    assert summary["skipped_updates"] == 0
