"""Does ``dqn`` learn from ``Discrete`` observations (one-hot encoded inside the network)?
``FrozenLake-v1`` (slippery, the default) with the ``toy-text`` preset, as
``apexrl train dqn --env FrozenLake-v1 --preset toy-text`` runs it, on a smaller budget."""

import dataclasses

import pytest

from apexrl.algos import ALGORITHMS

pytestmark = pytest.mark.learning


def test_dqn_learns_slippery_frozenlake_from_one_hot_states(tmp_path):
    algo = ALGORITHMS["dqn"]
    preset = algo.presets["toy-text"]()
    assert preset.run.env_id == "FrozenLake-v1" and preset.run.backend == "local"
    # one learner thread: the one-process loop is then deterministic for a seed
    run = dataclasses.replace(preset.run, run_dir=str(tmp_path / "run"), seed=0, progress=False, tensorboard=False,
                              learner_threads=1, total_env_frames=24_000, eval_interval_frames=0,
                              final_eval_episodes=100)
    actor = dataclasses.replace(preset.actor, epsilon_decay_frames=2_400)
    summary = algo.train(dataclasses.replace(preset, run=run, actor=actor))
    # the optimal policy reaches the goal in about 74% of the episodes (the reward is 1 there, else 0)
    assert summary["final_eval_return"] >= 0.6, summary["eval_history"]
