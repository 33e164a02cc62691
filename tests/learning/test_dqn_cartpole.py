"""Does the single-actor loop learn? ``dqn`` (Mnih et al. 2015) on CartPole-v1 with its
``cartpole`` preset, exactly as ``apexrl train dqn --env CartPole-v1 --preset cartpole`` runs it:
one process, one actor, a learner update every 4 agent steps, uniform replay, ε 1 → 0.02."""

import dataclasses

import pytest

from apexrl.runtime.run import train  # noqa: E402
from apexrl.agents import AGENTS

pytestmark = pytest.mark.learning


def test_dqn_solves_cartpole_in_one_process(tmp_path):
    algo = AGENTS["dqn"]
    preset = algo.presets["cartpole"]()
    lc = preset.learner
    assert (lc.double, lc.dueling, lc.distributional, lc.noisy, lc.n_step) == (False, False, False, False, 1)
    assert not preset.replay.prioritized and preset.run.backend == "local"
    # one learner thread, as the CLI picks on two cores: the one-process loop is then
    # deterministic for a seed
    # stopped at the first periodic evaluation (10 greedy episodes, every 5K frames) of 475 or more:
    # seed 0 got there at 60K of the preset's 100K frames (75 s on a loaded machine, 2026-12-02)
    run = dataclasses.replace(preset.run, run_dir=str(tmp_path / "run"), seed=0, progress=False,
                              tensorboard=False, learner_threads=1, eval_interval_frames=5_000,
                              stop_eval_return=475.0)
    summary = train(dataclasses.replace(preset, run=run), algo.name)
    # 475 is CartPole-v1's "solved" threshold, reached within the preset's budget
    assert summary["stopped_early"] and summary["best_eval_return"] >= 475, summary["eval_history"]
    # and the final evaluation, 20 other greedy episodes of the same network, holds it
    assert summary["final_eval_return"] >= 400, summary["eval_history"]
    assert summary["num_actors"] == 1
