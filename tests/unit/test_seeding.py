"""Seed derivation (apexrl.runtime.seeding): distinct, in [0, 2**32), accepted by every env family."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from apexrl.config import ActorConfig, EpsilonGreedyConfig, RunConfig
from apexrl.envs import make_vector_env
from apexrl.runtime.seeding import (DENSE_RESTARTS, GENERATIONS_PER_RESUME, derive_seeds, first_generation,
                                    stream_offset)

RESUMES, ACTORS, ENVS = 1000, 64, 8


@pytest.fixture(scope="module")
def all_seeds():
    """[resumes, actors, envs] seeds of the first start of every actor in every session."""
    out = np.empty((RESUMES, ACTORS, ENVS), dtype=np.int64)
    for r in range(RESUMES):
        g = first_generation(r)
        for a in range(ACTORS):
            out[r, a] = derive_seeds(12345, g, a, ENVS, ACTORS).env_seeds
    return out


def test_1000_resumes_64_actors_8_envs_distinct_and_in_range(all_seeds):
    flat = all_seeds.reshape(-1)
    assert flat.size == 512_000
    assert np.unique(flat).size == flat.size
    assert flat.min() >= 0 and flat.max() < 2**32
    assert flat.max() > 2**31  # spread over the whole range, not a small counter
    rs = np.random.RandomState(0)
    for s in flat:  # the full set through the legacy RNG MinAtar seeds (it refuses seeds >= 2**32)
        rs.seed(int(s))


def test_restarts_within_a_session_are_distinct_from_every_resume(all_seeds):
    restarts = np.array([derive_seeds(12345, first_generation(r) + k, a, ENVS, ACTORS).env_seeds
                         for r in (0, 1, 999) for k in (1, 2, DENSE_RESTARTS - 1) for a in (0, 63)])
    both = np.concatenate([all_seeds.reshape(-1), restarts.reshape(-1)])
    assert np.unique(both).size == both.size


def test_restarts_beyond_the_dense_range_get_valid_seeds_and_distinct_stream_ids():
    # a flaky actor restarted for days: hashed env seeds, still in range; stream ids never repeat
    gens = [first_generation(r) + k for r in (0, 1, 2046) for k in (DENSE_RESTARTS, 10**6, GENERATIONS_PER_RESUME - 1)]
    seeds = [derive_seeds(3, g, 1, 4, 2).env_seeds for g in gens]
    assert all(0 <= x < 2**32 for s in seeds for x in s) and len({x for s in seeds for x in s}) == 4 * len(gens)
    ids = [stream_offset(g, 1, 4) + e for g in gens for e in range(4)]
    assert len(set(ids)) == len(ids) and max(ids) < 2**63


def test_deterministic_for_a_fresh_run_and_keyed_by_run_seed():
    a = derive_seeds(7, 0, 3, 4, num_actors=8)
    b = derive_seeds(7, 0, 3, 4, num_actors=8)
    assert a.env_seeds == b.env_seeds
    np.testing.assert_array_equal(a.rng().random(5), b.rng().random(5))
    c = derive_seeds(8, 0, 3, 4, num_actors=8)
    assert set(a.env_seeds).isdisjoint(c.env_seeds)
    assert not np.array_equal(a.rng().random(5), c.rng().random(5))
    # exploration RNGs of other generations / actors differ; eval seeds are another family
    assert not np.array_equal(a.rng().random(5), derive_seeds(7, 1, 3, 4, 8).rng().random(5))
    assert not np.array_equal(a.rng().random(5), derive_seeds(7, 0, 2, 4, 8).rng().random(5))
    assert set(a.env_seeds).isdisjoint(derive_seeds(7, 0, 3, 4, 8, role="eval").env_seeds)


def test_beyond_the_dense_range_seeds_stay_valid():
    s = derive_seeds(1, 2**40, 0, 3, num_actors=2)
    assert all(0 <= x < 2**32 for x in s.env_seeds) and len(set(s.env_seeds)) == 3


def test_invalid_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        derive_seeds(-1, 0, 0, 1)
    with pytest.raises(ValueError, match="actor < num_actors"):
        derive_seeds(0, 0, 2, 1, num_actors=2)
    with pytest.raises(ValueError, match="role"):
        derive_seeds(0, 0, 0, 1, role="learner")
    with pytest.raises(ValueError, match="generation"):
        stream_offset(2**35, 0, 1)
    with pytest.raises(ValueError, match=r"\(--seed\): must be >= 0"):
        RunConfig(seed=-3)
    with pytest.raises(ValueError, match=r"\(--max-actor-restarts\): must be >= 0"):
        ActorConfig(max_actor_restarts=-1)


def test_stream_ids_never_collide_when_actor_counts_change():
    # session 0: 64 actors x 8 envs, 3 restarts; session 1: 100 actors x 2 envs
    ids = [stream_offset(g, a, 8) + e for g in range(4) for a in range(64) for e in range(8)]
    g1 = first_generation(1)
    ids += [stream_offset(g1 + k, a, 2) + e for k in range(4) for a in range(100) for e in range(2)]
    assert len(set(ids)) == len(ids) and max(ids) < 2**63
    assert stream_offset(first_generation(2047) + GENERATIONS_PER_RESUME - 1, 2**16 - 1, 2**12) < 2**63


def _sample_seeds(all_seeds):
    flat = all_seeds.reshape(-1)
    return [int(flat[0]), int(flat.max()), int(flat.min()), int(flat[-1])]


def test_gymnasium_accepts_them(all_seeds):
    env = gym.make("CartPole-v1")
    for s in _sample_seeds(all_seeds):
        obs, _ = env.reset(seed=s)
        assert env.observation_space.contains(obs)
    env.close()


def test_minatar_accepts_them(all_seeds):
    # the seed that crashed every actor after one resume before (issue 19): ~7.9e12
    with pytest.raises(ValueError, match="2\\*\\*32"):
        np.random.RandomState(12345 * 1_000_003 + 10_007 + 7_919_993 * 1_000_000)
    seeds = _sample_seeds(all_seeds)
    envs = make_vector_env("MinAtar/Breakout-v1", len(seeds), seeds)
    obs, _ = envs.reset(seed=seeds)
    assert obs.shape[0] == len(seeds)
    envs.step(np.zeros(len(seeds), dtype=np.int64))
    envs.close()


def test_ale_accepts_them(all_seeds):
    seeds = _sample_seeds(all_seeds)[:2]
    envs = make_vector_env("ALE/Pong-v5", 2, seeds)
    obs, _ = envs.reset(seed=seeds)
    assert obs.shape[0] == 2
    envs.step(np.zeros(2, dtype=np.int64))
    envs.close()


def test_actor_gives_each_env_its_own_derived_seed():
    from apexrl.config import ApexDQNConfig, DQNConfig
    from apexrl.envs import env_info
    from apexrl.runtime.actor import Actor
    from apexrl.runtime.params import LocalParams
    from apexrl.nets import build_dqn_network

    config = ApexDQNConfig(run=RunConfig(env_id="MinAtar/Breakout-v1", seed=5, num_actors=4),
                           actor=EpsilonGreedyConfig(envs_per_actor=3), learner=DQNConfig(hidden_sizes=(8,)))
    info = env_info(config.run.env_id)
    params = LocalParams()
    params.publish(build_dqn_network(config.learner, info))
    actor = Actor(config, "apex-dqn", info, 2, params, generation=first_generation(1000) + 5)
    expected = derive_seeds(5, first_generation(1000) + 5, 2, 3, 4)
    assert actor.env_seeds == list(expected.env_seeds)
    assert actor.adder.stream_offset == stream_offset(first_generation(1000) + 5, 2, 3)
    # the policy chose the first actions at construction: one uniform draw per env (ε > 0) came first
    np.testing.assert_array_equal(actor.policy.rng.random(4), expected.rng().random(3 + 4)[3:])
    actor.step()
    actor.close()
