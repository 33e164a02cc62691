"""``ppo`` on the one runtime: the rollout queue is the replay, the training loop takes no actor
messages while it is full (the ``may_insert`` hook), and every rollout is learned from once."""

from __future__ import annotations

import dataclasses

from apexrl.agents import get_agent
from apexrl.agents.ac.learner import ActorCriticLearner
from apexrl.backends.local import LocalSource
from apexrl.replay.rollout import RolloutQueue
from apexrl.runtime.run import train


def test_full_queue_stops_the_intake_and_each_rollout_is_used_once(tmp_path, monkeypatch):
    preset = get_agent("ppo").presets["cartpole"]()
    config = dataclasses.replace(
        preset, run=dataclasses.replace(preset.run, total_env_frames=2_560, eval_interval_frames=0,
                                        final_eval_episodes=1, progress=False, tensorboard=False,
                                        run_dir=str(tmp_path / "run")),
        learner=dataclasses.replace(preset.learner, epochs=1))
    queues: list[RolloutQueue] = []
    polls: list[tuple[int, int]] = []  # (transitions queued, max_messages) at each poll
    used: list[int] = []
    init, poll, update = RolloutQueue.__init__, LocalSource.poll, ActorCriticLearner.update

    def record_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        queues.append(self)

    def record_poll(self, max_messages, timeout):
        polls.append((len(queues[0]), max_messages))
        return poll(self, max_messages, timeout)

    def record_update(self, sample):
        used.extend(int(k) for k in sample.keys)
        return update(self, sample)

    monkeypatch.setattr(RolloutQueue, "__init__", record_init)
    monkeypatch.setattr(LocalSource, "poll", record_poll)
    monkeypatch.setattr(ActorCriticLearner, "update", record_update)
    summary = train(config, "ppo")
    assert len(queues) == 1 and queues[0].capacity == 256  # the agent's replay: one batch of rollouts
    full = [m for held, m in polls if held >= 256]
    assert full and all(m == 0 for m in full)  # while full, no message is taken
    assert all(m > 0 for held, m in polls if held < 256)
    assert max(held for held, _ in polls) <= 256
    # 10 rollouts of 8 envs x 32 steps; the last completes the budget and is not learned from
    assert summary["env_frames"] == 2_560 and used == list(range(9)) and summary["learner_steps"] == 9
