"""The optional agent hooks for stateful and non-transition agents (recurrent, on-policy):
``PolicyStep.extras`` reach the agent's adder, ``ActorPolicy.observe`` runs after each env step
and before the next action, the agent's own item container and replay (``build_replay``,
``can_sample``) are used by the one training loop, and ``build_greedy`` gives the evaluator a
stateful policy. A toy agent defined here exercises each on the local backend.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from apexrl.agents import AGENTS, PolicyStep
from apexrl.replay import concat_items, num_items
from apexrl.replay.build import agent_replay
from apexrl.runtime.evaluator import evaluate
from apexrl.runtime.run import train
from tests.unit.test_agent_interface import TOY, _Net

LOG: dict[str, list] = {"adder": [], "sampled": [], "greedy_built": [], "greedy": []}


class _Steps:
    """An agent's own item container: per-step counters since the episode started."""

    def __init__(self, t: np.ndarray) -> None:
        self.t = t

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def concat(cls, parts: list[_Steps]) -> _Steps:
        return cls(np.concatenate([p.t for p in parts]))

    def tail(self, start: int) -> _Steps:
        return _Steps(self.t[start:])

    def take(self, rows: np.ndarray) -> _Steps:
        return _Steps(self.t[rows])


class _Counting:
    """Action 0; ``extras["t"]``: steps since the episode of each env started, kept by ``observe``."""

    def __init__(self, network: Any, num_envs: int) -> None:
        self.network = network
        self.t = np.zeros(num_envs, dtype=np.int64)

    def step(self, obs: np.ndarray) -> PolicyStep:
        actions = np.zeros(len(obs), dtype=np.int64)
        return PolicyStep(actions, actions, extras={"t": self.t.copy()})

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        assert reward.dtype == np.float32 and terminated.dtype == bool
        self.t = np.where(terminated | truncated, 0, self.t + 1)

    def value(self, obs: np.ndarray) -> np.ndarray:
        raise AssertionError("no values: the policy gives no q_taken")

    def advance(self, frames: int) -> None:
        pass


class _Adder:
    """Checks each step's extras against its own count of steps since each episode started."""

    def __init__(self, num_envs: int) -> None:
        self.expected = np.zeros(num_envs, dtype=np.int64)

    def add(self, obs, actions, reward, next_obs, terminated, truncated, q_taken=None, next_value=None,
            extras=None):  # noqa: ANN001, ANN201
        LOG["adder"].append(bool(np.array_equal(extras["t"], self.expected)))
        items = _Steps(extras["t"].copy())
        self.expected = np.where(terminated | truncated, 0, self.expected + 1)
        return items, None


class _Sampled:
    def __init__(self, items: _Steps) -> None:
        self.items = items
        self.keys = np.arange(len(items))


class _Fifo:
    """Each item is sampled once; a batch only when ``batch_size`` items are there."""

    def __init__(self) -> None:
        self.queue: list[int] = []

    def add(self, items: _Steps, priorities: Any = None) -> None:
        assert isinstance(items, _Steps) and priorities is None
        self.queue.extend(items.t.tolist())

    def can_sample(self, batch_size: int) -> bool:
        return len(self.queue) >= batch_size

    def sample(self, batch_size: int) -> _Sampled:
        assert len(self.queue) >= batch_size, "sampled although can_sample said no"
        head, self.queue = self.queue[:batch_size], self.queue[batch_size:]
        LOG["sampled"].append(len(head))
        return _Sampled(_Steps(np.asarray(head)))

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        pass

    def __len__(self) -> int:
        return len(self.queue)

    nbytes = 0

    def state_dict(self) -> tuple[dict, dict]:
        return {"queue": np.asarray(self.queue, dtype=np.int64)}, {}

    def load_state_dict(self, arrays: dict, meta: dict) -> None:
        self.queue = arrays["queue"].tolist()


class _Greedy:
    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.acts = self.observes = 0

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        assert len(obs) == self.num_envs and self.acts == self.observes  # observe ran after each step
        self.acts += 1
        return np.zeros(len(obs), dtype=np.int64)

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        self.observes += 1
        LOG["greedy"].append((self.acts, self.observes))


def _greedy(network: Any, num_envs: int) -> _Greedy:
    LOG["greedy_built"].append(num_envs)
    return _Greedy(num_envs)


STATEFUL = dataclasses.replace(
    TOY, name="toy-stateful",
    build_policy=lambda config, info, network, index, rng: _Counting(network, config.actor.envs_per_actor),
    build_adder=lambda config, info, num_envs, offset: _Adder(num_envs),
    build_replay=lambda config, info, seed: _Fifo(),
    build_greedy=_greedy)


@pytest.fixture
def stateful(monkeypatch):
    monkeypatch.setitem(AGENTS, STATEFUL.name, STATEFUL)
    for calls in LOG.values():
        calls.clear()
    yield STATEFUL


def test_extras_observe_own_items_and_replay_reach_the_one_training_loop(tmp_path, stateful):
    from apexrl.agents.dqn.apex_dqn import cartpole

    base = cartpole()
    run = dataclasses.replace(base.run, backend="local", num_actors=1, total_env_frames=1500, progress=False,
                              tensorboard=False, eval_interval_frames=0, final_eval_episodes=3,
                              run_dir=str(tmp_path / "run"), learner_threads=1)
    config = dataclasses.replace(base, run=run, actor=dataclasses.replace(base.actor, envs_per_actor=3),
                                 replay=dataclasses.replace(base.replay, learning_starts=64, samples_per_insert=0.0),
                                 learner=dataclasses.replace(base.learner, batch_size=64))
    summary = train(config, "toy-stateful")
    # the adder saw every step, with the policy's extras of the step's own observation: observe() ran
    # after each env step and before the next action (CartPole episodes end within ~10 left steps)
    assert len(LOG["adder"]) * 3 == summary["env_steps"] and all(LOG["adder"])
    assert summary["episodes"] > 3 * 10
    # the agent's replay: whole batches only, each item once (no batch while fewer than 64 were held)
    assert LOG["sampled"] and set(LOG["sampled"]) == {64}
    assert summary["learner_steps"] == len(LOG["sampled"]) <= summary["env_steps"] // 64
    # the evaluator used the stateful greedy policy, one per batch of envs, observe after every act
    assert LOG["greedy_built"] == [3]
    assert LOG["greedy"] and all(a == o for a, o in LOG["greedy"])
    assert summary["final_eval_return"] < 20


def test_the_evaluator_builds_a_stateful_policy_per_batch_of_envs(stateful):
    returns = evaluate(STATEFUL, _Net(), "CartPole-v1", 5, max_parallel=2, seed=3)
    assert len(returns) == 5 and all(r < 20 for r in returns)
    assert LOG["greedy_built"] == [2, 2, 1]


def test_agent_replay_prefers_the_agents_own_and_defaults_to_prioritized_transitions():
    from apexrl.agents.dqn.apex_dqn import cartpole
    from apexrl.envs import env_info
    from apexrl.replay import PrioritizedReplay

    config, info = cartpole(), env_info("CartPole-v1")
    assert isinstance(agent_replay(STATEFUL, config, info, seed=0), _Fifo)
    default = agent_replay(TOY, config, info, seed=0)
    assert isinstance(default, PrioritizedReplay) and not default.can_sample(32)


def test_item_helpers_accept_an_agents_container_and_name_mixed_types():
    from apexrl.types import Transitions

    joined = concat_items([_Steps(np.array([0, 1])), _Steps(np.array([2]))])
    assert isinstance(joined, _Steps) and joined.t.tolist() == [0, 1, 2] and num_items(joined) == 3
    with pytest.raises(TypeError, match="cannot concatenate _Steps with Transitions"):
        concat_items([_Steps(np.array([0])), Transitions(*(np.zeros(1),) * 5)])
    with pytest.raises(TypeError, match="container with __len__ and concat, got int"):
        num_items(3)
    from apexrl.replay.prioritized import _tail  # a message larger than the replay keeps its newest items

    assert _tail(joined, 1).t.tolist() == [1, 2]
    from apexrl.replay import take_items  # the Ray sampler splits sampled data by rows

    assert take_items(joined, np.array([2, 0])).t.tolist() == [2, 0]
    batch = take_items(Transitions(*(np.arange(3.0),) * 5), np.array([1]))
    assert isinstance(batch, Transitions) and batch.reward.tolist() == [1.0]
    with pytest.raises(TypeError, match="container with take\\(rows\\), got int"):
        take_items(3, np.array([0]))
