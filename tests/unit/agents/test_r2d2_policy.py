"""R2D2's actor and evaluation policies: the LSTM state is carried across steps, reset at episode
ends by observe(), previous action / reward are inputs, every env gets its own ε, and the stored
state of each sequence reproduces the actor's Q-values when the learner unrolls from it."""

from __future__ import annotations

import numpy as np
import torch

from apexrl.agents import get_agent
from apexrl.agents.exploration import environment_epsilons
from apexrl.agents.r2d2.policy import R2D2Greedy, R2D2Policy, build_adder, build_network
from apexrl.agents.r2d2.presets import popgym
from apexrl.envs import env_info, make_vector_env
from apexrl.runtime.evaluator import evaluate
import dataclasses


def _config(envs=3, actors=2, **learner):
    c = popgym()
    return dataclasses.replace(c, run=dataclasses.replace(c.run, num_actors=actors),
                               actor=dataclasses.replace(c.actor, envs_per_actor=envs),
                               learner=dataclasses.replace(c.learner, lstm_size=8, hidden_sizes=(8,), head_hidden=8,
                                                           burn_in=2, sequence_length=4, sequence_period=2, **learner))


INFO = env_info("popgym-PositionOnlyCartPoleEasy-v0")


def _net(config):
    torch.manual_seed(0)
    return build_network(config, INFO)


def test_state_is_carried_and_reset_by_observe():
    config = _config()
    net = _net(config)
    policy = R2D2Policy(config, net, 1, np.random.default_rng(0))
    policy.epsilon = np.zeros(3)
    rng = np.random.default_rng(1)
    obs = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(3)]
    rewards = [np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 1.0, 1.0], np.float32)]
    steps = []
    for t in range(3):
        steps.append(policy.step(obs[t]))
        if t < 2:
            policy.observe(rewards[t], np.array([False, t == 0, False]), np.zeros(3, bool))
    # oracle: env 0 unrolled over 3 steps from zero with the previous actions / rewards as inputs
    a = [s.actions[0] for s in steps]
    with torch.no_grad():
        q, _ = net(torch.from_numpy(np.stack([o[0] for o in obs])[None]), torch.tensor([[-1, a[0], a[1]]]),
                   torch.tensor([[0.0, 0.5, 1.0]]), net.initial_state(1))
    assert [int(x) for x in q[0].argmax(1)] == a
    np.testing.assert_array_equal(steps[0].extras["state"], 0.0)
    assert np.abs(steps[1].extras["state"][0]).sum() > 0
    # env 1 ended after step 0: step 1 starts from the zero state with no previous action / reward
    np.testing.assert_array_equal(steps[1].extras["state"][1], 0.0)
    assert steps[1].q_taken is None and steps[1].value is None


def test_each_environment_has_its_own_epsilon():
    config = _config(envs=4, actors=2)
    policy = R2D2Policy(config, _net(config), 1, np.random.default_rng(0))
    np.testing.assert_allclose(policy.epsilon, environment_epsilons(1, 2, 4, 0.4, 7.0, True))
    np.testing.assert_allclose(policy.epsilon[-1], 0.4 ** 8)


def test_stored_state_reproduces_the_actors_q_values():
    """The learner's unroll from a sequence's stored state (no burn-in) gives the Q-values the actor
    computed at those steps: the stored state is the actor's state at the sequence's first step."""
    config = _config(envs=2, actors=1)
    net = _net(config)
    policy = R2D2Policy(config, net, 0, np.random.default_rng(0))
    actor_q: dict[bytes, np.ndarray] = {}  # observation -> the Q-values the actor computed on it
    plain = policy.q_step

    def logged(obs):
        q, entering = plain(obs)
        for o, row in zip(obs, q):
            actor_q[o.tobytes()] = row.copy()
        return q, entering

    policy.q_step = logged
    adder = build_adder(config, INFO, 2, 0)
    envs = make_vector_env(INFO.env_id, 2, [3, 4], training=True)
    obs, _ = envs.reset(seed=[3, 4])
    sequences = []
    current = policy.step(obs)
    for _ in range(80):
        next_obs, reward, term, trunc, _ = envs.step(current.env_actions)
        policy.observe(reward.astype(np.float32), term, trunc)
        items, _ = adder.add(obs, current.actions, reward, next_obs, term, trunc, extras=current.extras)
        if len(items):
            sequences.append(items)
        obs, current = next_obs, policy.step(next_obs)
    envs.close()
    checked = 0
    for items in sequences:
        for k in range(len(items)):
            s = torch.from_numpy(items.state[k : k + 1])
            pa = torch.from_numpy(np.r_[items.prev_action[k], items.action[k]][None])
            pr = torch.from_numpy(np.r_[items.prev_reward[k], items.reward[k]][None].astype(np.float32))
            first = max(int(items.first_step[k]), 0)  # left padding: the episode starts from zeros there
            with torch.no_grad():
                q, _ = net(torch.from_numpy(items.obs[k : k + 1, first:]), pa[:, first:], pr[:, first:],
                           (s[:, 0], s[:, 1]) if first == 0 else net.initial_state(1))
            for t in np.flatnonzero(items.mask[k]):
                np.testing.assert_allclose(q[0, t - first].numpy(), actor_q[items.obs[k, t].tobytes()],
                                           rtol=1e-5, atol=1e-6)
                checked += 1
    assert checked > 100 and any((x.first_step == -1).any() for x in sequences)


def test_evaluator_uses_the_stateful_greedy_policy():
    agent = get_agent("r2d2")
    config = _config()
    net = _net(config)
    original = agent.build_greedy

    returns = evaluate(agent, net, "popgym-PositionOnlyCartPoleEasy-v0", 3, epsilon=0.0, seed=0)
    assert len(returns) == 3 and all(0.0 < r <= 1.0 for r in returns)
    greedy = original(net, 2)
    assert isinstance(greedy, R2D2Greedy)
    greedy.act(np.zeros((2, 2), np.float32), 0.0, np.random.default_rng(0))
    assert np.abs(greedy.state).sum() > 0
    greedy.observe(np.ones(2, np.float32), np.array([True, False]), np.zeros(2, bool))
    np.testing.assert_array_equal(greedy.state[0], 0.0)
    assert greedy.prev_action[0] == -1 and greedy.prev_reward[1] == 1.0
