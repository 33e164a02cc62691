"""Each DQN-family switch changes exactly what it should; named algorithms are the paper's switches."""

import dataclasses

import numpy as np
import pytest
import torch

from apexrl.agents import AGENTS
from apexrl.config import DQNConfig, ReplayConfig
from apexrl.envs import env_info
from apexrl.nets import NoisyLinear, build_dqn_network
from apexrl.nets.distributional import CategoricalQNetwork
from apexrl.runtime.evaluator import evaluate
from apexrl.agents.dqn.learner import DQNLearner
from apexrl.replay.build import build_replay
from apexrl.types import Transitions

INFO = env_info("CartPole-v1")

# name: (double, dueling, prioritized, n_step, distributional, noisy, single actor)
TABLE = {
    "dqn": (False, False, False, 1, False, False, True),
    "double-dqn": (True, False, False, 1, False, False, True),
    "dueling-dqn": (True, True, False, 1, False, False, True),
    "prioritized-dqn": (True, False, True, 1, False, False, True),
    "c51": (False, False, False, 1, True, False, True),
    "rainbow": (True, True, True, 3, True, True, True),
    "apex-dqn": (True, True, True, 3, False, False, False),
    "apex-rainbow": (True, True, True, 3, True, True, False),
}


@pytest.mark.parametrize("name", sorted(TABLE))
@pytest.mark.parametrize("family", ["cartpole", "minatar", "atari", "toy-text"])
def test_named_algorithms_set_the_papers_switches(name, family):
    algo = AGENTS[name]
    config = algo.presets[family]()
    lc, rc = config.learner, config.replay
    double, dueling, prioritized, n, distributional, noisy, single = TABLE[name]
    assert (lc.double, lc.dueling, rc.prioritized, lc.n_step, lc.distributional, lc.noisy) == (
        double, dueling, prioritized, n, distributional, noisy)
    assert algo.single_actor == single
    if single:
        assert config.run.num_actors == 1 and config.run.backend == "local"
    else:
        assert config.run.num_actors >= 2 and config.run.backend == "mp"
    if name == "rainbow":
        assert config.actor.epsilon == 0.0 and rc.priority_exponent == 0.5
        assert rc.importance_sampling_exponent_final == 1.0
    if name in ("dqn", "double-dqn"):
        assert config.actor.epsilon_decay_frames > 0 and config.actor.epsilon_start == 1.0


def _transitions(n, rng):
    return Transitions(rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 2, n),
                       rng.standard_normal(n).astype(np.float32), np.full(n, 0.99, np.float32),
                       rng.standard_normal((n, 4)).astype(np.float32))


def test_prioritized_off_samples_uniformly_with_unit_weights():
    rng = np.random.default_rng(0)
    replay = build_replay(ReplayConfig(replay_capacity=1000, prioritized=False), INFO, seed=0)
    priorities = np.where(np.arange(1000) < 10, 1000.0, 0.001)  # would dominate if prioritized
    replay.add(_transitions(1000, rng), priorities)
    counts = np.zeros(1000)
    for _ in range(200):
        batch = replay.sample(100)
        assert np.all(batch.weights == 1.0)
        counts[batch.keys] += 1
    assert counts[:10].sum() / counts.sum() == pytest.approx(0.01, abs=0.005)
    on = build_replay(ReplayConfig(replay_capacity=1000, prioritized=True), INFO, seed=0)
    on.add(_transitions(1000, rng), priorities)
    keys = on.sample(1000).keys
    assert np.mean(keys < 10) > 0.5


def test_distributional_switch_builds_categorical_network_and_uses_c51_loss():
    cfg = DQNConfig(distributional=True, num_atoms=11, v_min=0.0, v_max=100.0, hidden_sizes=(32, 32))
    net = build_dqn_network(cfg, INFO)
    assert isinstance(net, CategoricalQNetwork) and net.num_atoms == 11
    assert net.support[0] == 0.0 and net.support[-1] == 100.0
    learner = DQNLearner(dataclasses.replace(cfg, batch_size=8), INFO)
    rng = np.random.default_rng(1)
    from apexrl.types import SampledBatch

    batch = SampledBatch(np.arange(8), _transitions(8, rng), np.ones(8, np.float32))
    priorities, metrics = learner.update(batch)
    assert "learner/ce_mean" in metrics and priorities.shape == (8,) and np.all(priorities > 0)
    plain = DQNLearner(DQNConfig(hidden_sizes=(32, 32), batch_size=8), INFO)
    _, metrics = plain.update(batch)
    assert "learner/td_abs_mean" in metrics and "learner/ce_mean" not in metrics


def test_noisy_switch_adds_noisy_layers_resampled_in_train_mode_and_mean_in_eval():
    net = build_dqn_network(DQNConfig(noisy=True, hidden_sizes=(32, 32)), INFO)
    noisy = [m for m in net.modules() if isinstance(m, NoisyLinear)]
    assert noisy
    plain = build_dqn_network(DQNConfig(noisy=False, hidden_sizes=(32, 32)), INFO)
    assert not [m for m in plain.modules() if isinstance(m, NoisyLinear)]
    obs = torch.randn(5, 4)
    from apexrl.nets import reset_noise

    net.train()
    a = net(obs)
    reset_noise(net)
    b = net(obs)
    assert not torch.allclose(a, b)
    net.eval()
    assert torch.equal(net(obs), net(obs))
    # evaluation uses the mean weights and leaves the network's mode as it found it
    net.train()
    evaluate("dqn", net, "CartPole-v1", 1, epsilon=0.0, max_episode_steps=5)
    assert net.training


def test_rainbow_cartpole_overrides_only_the_documented_fields():
    from apexrl.agents.dqn import apex_dqn

    rb = AGENTS["rainbow"].presets["cartpole"]()
    base = apex_dqn.cartpole()
    # a random-action warm-up over the first 10% of frames, then noisy nets alone
    assert (rb.actor.epsilon_start, rb.actor.epsilon, rb.actor.epsilon_decay_frames) == (1.0, 0.0, 10_000)
    assert rb.run.total_env_frames == 100_000 and rb.actor.envs_per_actor == 4
    assert rb.replay.samples_per_insert == 24.0
    assert rb.learner.hidden_sizes == (128, 128) and rb.learner.learning_rate == 5e-4
    # everything else is the cartpole family's
    assert rb.learner.target_update_period == base.learner.target_update_period
    assert rb.learner.learning_rate_final == base.learner.learning_rate_final
    assert rb.replay.replay_capacity == base.replay.replay_capacity
    # the other families' rainbow and the other algorithms on cartpole are untouched
    assert AGENTS["rainbow"].presets["minatar"]().actor.epsilon_start == 0.0
    assert AGENTS["c51"].presets["cartpole"]().learner.hidden_sizes == base.learner.hidden_sizes
