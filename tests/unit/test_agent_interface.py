"""The runtime serves any agent through the interface of :mod:`apexrl.agents.base` alone.

A toy agent defined here (no file of the runtime knows it) is registered and trained by the one
training loop on the local backend; the test checks what the loop did with each builder's
output: the policy's actions reached the environments, the learner saw the replay's batches,
its priorities went back, its acting network was published and evaluated, and the run
directory has its checkpoint and final network.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from apexrl.agents import AGENTS, Agent, PolicyStep, get_agent
from apexrl.agents.dqn.apex_dqn import cartpole
from apexrl.config import ApexDQNConfig, ReplayConfig, RunConfig
from apexrl.runtime.run import train

CALLS: dict[str, list] = {"update": [], "progress": [], "actions": []}


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(obs.shape[0], 2)


class _AlwaysLeft:
    """Always action 0; Q(s, a) = 1 and V(s) = 2 so initial priorities are known."""

    def __init__(self, network: nn.Module) -> None:
        self.network = network

    def step(self, obs: np.ndarray) -> PolicyStep:
        actions = np.zeros(len(obs), dtype=np.int64)
        CALLS["actions"].append(len(obs))
        return PolicyStep(actions, actions, np.ones(len(obs), np.float32), np.full(len(obs), 2.0, np.float32))

    def value(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), 2.0, np.float32)

    def advance(self, frames: int) -> None:
        pass


class _CountingLearner:
    def __init__(self, device: torch.device) -> None:
        self.net = _Net().to(device)
        self.consecutive_skipped = 0
        self.skipped_updates = 0
        self.steps = 0

    def update(self, sample):  # noqa: ANN001
        CALLS["update"].append(len(sample.keys))
        with torch.no_grad():
            self.net.bias += 1.0  # visible in what is published and saved
        self.steps += 1
        return np.full(len(sample.keys), 0.5, np.float32), {"learner/loss": 0.0, "learner/learning_rate": 0.1}

    def acting_network(self) -> nn.Module:
        return self.net

    def set_progress(self, fraction: float) -> None:
        CALLS["progress"].append(fraction)

    def state_dict(self):  # noqa: ANN201
        return {"bias": self.net.bias.detach().clone()}, {"steps": self.steps}

    def load_state_dict(self, tensors, meta) -> None:  # noqa: ANN001
        self.net.bias.data.copy_(tensors["bias"])
        self.steps = int(meta["steps"])


def _network(config, info):  # noqa: ANN001, ANN202
    return _Net()


def _policy(config, info, network, index, rng):  # noqa: ANN001, ANN202
    return _AlwaysLeft(network)


def _learner(config, info, seed, device):  # noqa: ANN001, ANN202
    return _CountingLearner(device)


def _greedy(network, obs, action_space, epsilon, rng):  # noqa: ANN001, ANN202
    return np.zeros(len(obs), dtype=np.int64)


TOY = Agent(name="toy-left", doc="always left", config_class=ApexDQNConfig, presets={}, default=ApexDQNConfig,
            single_actor=True, action_kind="discrete", build_network=_network, build_policy=_policy,
            build_learner=_learner, greedy_actions=_greedy)


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(AGENTS, TOY.name, TOY)
    for calls in CALLS.values():
        calls.clear()
    yield TOY


def test_a_new_agent_trains_on_the_one_runtime_without_runtime_changes(tmp_path, toy_registered):
    base = cartpole()
    run = dataclasses.replace(base.run, backend="local", num_actors=1, total_env_frames=1200, progress=False,
                              tensorboard=False, eval_interval_frames=0, final_eval_episodes=2,
                              run_dir=str(tmp_path / "run"), learner_threads=1)
    config = dataclasses.replace(base, run=run, replay=dataclasses.replace(base.replay, learning_starts=200,
                                                                          samples_per_insert=0.0))
    summary = train(config, "toy-left")
    assert get_agent("toy-left") is TOY
    assert summary["algo"] == "toy-left" and summary["env_frames"] >= 1200
    assert summary["learner_steps"] == len(CALLS["update"]) > 0
    assert set(CALLS["update"]) == {config.learner.batch_size}
    assert CALLS["progress"] and all(0.0 <= f <= 1.0 for f in CALLS["progress"])
    assert sum(CALLS["actions"]) >= summary["env_steps"]  # every env step was chosen by the policy
    # always left: CartPole falls within a few dozen steps, and the greedy evaluation does too
    assert summary["final_eval_return"] < 20
    with open(os.path.join(run.run_dir, "config.json")) as f:
        assert json.load(f)["algo"] == "toy-left"
    from safetensors.torch import load_file

    saved = load_file(os.path.join(run.run_dir, "model.safetensors"))
    assert float(saved["bias"][0]) == pytest.approx(summary["learner_steps"])  # the acting network, updated


def test_unknown_algorithm_names_the_registered_ones():
    with pytest.raises(ValueError, match="unknown algorithm 'nope'; available: apex-dqn"):
        get_agent("nope")


@dataclasses.dataclass(frozen=True)
class _Rule:
    batch_size: int = 32


@dataclasses.dataclass(frozen=True)
class _Broken:  # no actor group, a learner without the runtime's fields
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    replay: ReplayConfig = dataclasses.field(default_factory=ReplayConfig)
    learner: _Rule = dataclasses.field(default_factory=_Rule)


def test_a_config_without_the_fields_the_runtime_reads_is_refused_at_registration():
    from apexrl.agents import _check

    with pytest.raises(ValueError, match=r"lacks actor, learner.n_step, learner.gamma, learner.publish_period"):
        _check(dataclasses.replace(TOY, config_class=_Broken), "tests")
    _check(TOY, "tests")  # ApexDQNConfig has them all
