"""The Ape-X actor: messages, priorities, and a bad step never reaching replay."""

import dataclasses
import os
import sys

import numpy as np
import pytest

from apexrl.agents.dqn.apex_dqn import cartpole
from apexrl.config import ApexDQNConfig
from apexrl.envs import EnvError, env_info
from apexrl.nets import build_q_network
from apexrl.agents.dqn.policy import apex_epsilon
from apexrl.runtime.actor import Actor
from apexrl.runtime.params import SharedParams
from apexrl.runtime.trainer import RateLimiter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import bad_envs  # noqa: E402,F401  (registers NaNObs-v0)


def make_actor(env_id, index=0, num_actors=1, buffer=10):
    p = cartpole()
    config = ApexDQNConfig(run=dataclasses.replace(p.run, env_id=env_id, num_actors=num_actors),
                           replay=p.replay, actor=dataclasses.replace(p.actor, local_buffer_size=buffer),
                           learner=p.learner)
    info = env_info(env_id)
    net = build_q_network(info.kind, info.obs_shape, info.num_actions, p.learner.hidden_sizes, p.learner.dueling)
    params = SharedParams(net)
    params.publish(net)
    return Actor(config, "apex-dqn", info, index, params), net


def test_actor_messages_carry_transitions_priorities_and_counts():
    actor, _ = make_actor("CartPole-v1", index=1, num_actors=3, buffer=16)
    assert actor.policy.epsilon == pytest.approx(apex_epsilon(1, 3))
    assert actor.param_version == 1
    messages, steps = [], 0
    while len(messages) < 5:
        steps += 1
        m = actor.step()
        if m is not None:
            messages.append(m)
    assert sum(m.env_steps for m in messages) == steps
    for m in messages:
        n = len(m.items.action)
        assert n >= 16 and m.priorities.shape == (n,) and m.priorities.dtype == np.float32
        assert np.all(m.priorities >= 0) and np.all(np.isfinite(m.priorities))
        assert m.items.obs.shape == (n, 4) and m.items.obs.dtype == np.float32
        allowed = np.array([0.0, 0.99, 0.99**2, 0.99**3])  # γ^k with k <= n = 3, or 0 after termination
        assert np.all(np.isclose(m.items.discount[:, None], allowed[None, :], atol=1e-6).any(axis=1))
    actor.close()


def test_non_finite_observation_stops_actor_and_never_enters_a_message():
    actor, _ = make_actor("bad_envs:NaNObs-v0", buffer=10)
    emitted = []
    with pytest.raises(EnvError) as info:
        for _ in range(100):
            m = actor.step()
            if m is not None:
                emitted.append(m.items)
    text = str(info.value)
    assert "NaNObs-v0" in text and "actor 0" in text and "step" in text
    # the env returns NaN at its 30th step: 29 good steps, n = 3 -> 27 complete transitions
    pending = [p for p in actor._pending]
    n_total = sum(len(t.action) for t in emitted + pending)
    assert n_total == 27
    for t in emitted + pending:
        assert np.isfinite(t.obs).all() and np.isfinite(t.next_obs).all()
    actor.close()


def test_rate_limiter_keeps_samples_per_insert_within_tolerance():
    limiter = RateLimiter(samples_per_insert=2.0, tolerance=0.1, batch_size=4)
    limiter.inserted = 100  # target: 200 samples
    limiter.sampled = 216
    assert limiter.learner_may_sample()  # 216 + 4 <= 2*100*1.1 + 4
    limiter.sampled = 221
    assert not limiter.learner_may_sample()
    limiter.sampled = 176
    assert limiter.actors_may_insert()  # 176 >= 180 - 4
    limiter.sampled = 175
    assert not limiter.actors_may_insert()
    off = RateLimiter(0.0, 0.1, 4)
    off.sampled, off.inserted = 10**6, 0
    assert off.learner_may_sample() and off.actors_may_insert()
