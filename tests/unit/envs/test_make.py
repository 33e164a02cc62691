"""make_env / make_vector_env / check_env_id / env_info / require_action_space (the action-space
checks are in test_actions.py)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # pytest's default "prepend" import mode already put it there
    sys.path.insert(0, _HERE)
from fake_envs import SCRIPTED_ID, register_fake_envs  # noqa: E402

from apexrl.envs import (  # noqa: E402
    EnvError,
    EnvSpecInfo,
    check_env_id,
    completed_episodes,
    env_info,
    env_kind,
    final_observations,
    make_env,
    make_vector_env,
)

# --- single envs ---------------------------------------------------------------------------


def test_cartpole_float32_and_raw_episode_statistics():
    env = make_env("CartPole-v1", seed=0, max_episode_steps=7)
    assert env.observation_space.dtype == np.float32
    obs, _ = env.reset()
    assert obs.shape == (4,) and obs.dtype == np.float32
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(0)
        assert obs.dtype == np.float32
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert info["episode"]["r"] == total and info["episode"]["l"] == steps


def test_non_float32_observations_are_cast():
    register_fake_envs()
    env = make_env(SCRIPTED_ID, dtype=np.float64)
    assert env.observation_space.dtype == np.float32
    obs, _ = env.reset()
    assert obs.dtype == np.float32
    obs, *_ = env.step(0)
    assert obs.dtype == np.float32 and (obs == 1).all()


def test_seed_makes_first_reset_and_action_sampling_reproducible():
    a, b, c = (make_env("CartPole-v1", seed=s) for s in (5, 5, 6))
    obs_a, obs_b, obs_c = a.reset()[0], b.reset()[0], c.reset()[0]
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.array_equal(obs_a, obs_c)
    assert [a.action_space.sample() for _ in range(20)] == [b.action_space.sample() for _ in range(20)]
    # An explicit seed still wins.
    d = make_env("CartPole-v1", seed=6)
    np.testing.assert_array_equal(d.reset(seed=5)[0], obs_a)


def test_minatar_breakout_channels_first_uint8():
    env = make_env("MinAtar/Breakout-v1", seed=0)
    assert env.observation_space == spaces.Box(0, 1, (4, 10, 10), np.uint8)
    obs, _ = env.reset()
    assert obs.shape == (4, 10, 10) and obs.dtype == np.uint8 and obs.flags.c_contiguous
    raw = env.unwrapped.game.state()  # (10, 10, 4) bool, HWC
    assert raw.shape == (10, 10, 4) and raw.dtype == bool
    np.testing.assert_array_equal(obs, raw.transpose(2, 0, 1).astype(np.uint8))
    assert set(np.unique(obs)) <= {0, 1} and obs.sum() > 0
    for _ in range(10):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        np.testing.assert_array_equal(obs, env.unwrapped.game.state().transpose(2, 0, 1))


@pytest.mark.filterwarnings("ignore:.*is out of date")  # Gymnasium's note on v0
@pytest.mark.parametrize(("env_id", "num_actions"), [("MinAtar/Breakout-v0", 6), ("MinAtar/Breakout-v1", 3)])
def test_minatar_both_versions(env_id, num_actions):
    info = env_info(env_id)
    assert info.obs_shape == (4, 10, 10) and info.obs_dtype == np.uint8
    assert info.num_actions == num_actions and info.kind == "minatar" and info.frame_stack == 0


@pytest.fixture
def custom_module(monkeypatch):
    """Make tests/unit/envs/custom_env_module.py importable, unimported and unregistered."""
    import custom_env_module  # noqa: F401 - only to read CUSTOM_ID

    env_id = custom_env_module.CUSTOM_ID
    monkeypatch.syspath_prepend(_HERE)
    monkeypatch.delitem(sys.modules, "custom_env_module")
    gym.registry.pop(env_id, None)
    yield env_id
    gym.registry.pop(env_id, None)
    sys.modules.pop("custom_env_module", None)


def test_module_colon_env_id(custom_module):
    env_id = custom_module
    assert env_id not in gym.registry
    full_id = f"custom_env_module:{env_id}"
    check_env_id(full_id)  # imports the module, which registers the id
    assert env_id in gym.registry
    env = make_env(full_id, seed=0, context="actor 1")
    assert env_kind(full_id) == "vector"
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (1,)  # the module's float64 cast
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(0)
    assert terminated and info["episode"]["r"] == 10.0 and info["episode"]["l"] == 5


def test_module_colon_env_id_from_fresh_import(custom_module):
    env = make_env(f"custom_env_module:{custom_module}")  # make_env alone also imports it
    assert env.action_space == spaces.Discrete(3)


def test_module_that_cannot_be_imported():
    expected = (
        r"Cannot import module 'no_such_module_xyz' named in environment id "
        r"'no_such_module_xyz:Foo-v0'.*ModuleNotFoundError"
    )
    with pytest.raises(ValueError, match=expected):
        check_env_id("no_such_module_xyz:Foo-v0")


@pytest.mark.parametrize(
    ("typo", "candidate"),
    [
        ("ALE/Png-v5", "ALE/Pong-v5"),
        ("CartPol-v1", "CartPole-v1"),
        ("MinAtar/Breakout-v9", "MinAtar/Breakout-v1"),
        ("MinAtar/breakout-v1", "MinAtar/Breakout-v1"),
    ],
)
def test_unknown_ids_get_suggestions(typo, candidate):
    with pytest.raises(ValueError) as excinfo:
        check_env_id(typo)
    msg = str(excinfo.value)
    assert f"Unknown environment id {typo!r}" in msg
    assert "Did you mean" in msg
    assert f"`{candidate}`" in msg
    with pytest.raises(ValueError, match="Did you mean"):
        make_env(typo)


def test_gymnasium_name_suggestion_is_kept():
    with pytest.raises(ValueError, match=r"Environment `Png` doesn't exist in namespace ALE\. Did you mean: `Pong`\?"):
        check_env_id("ALE/Png-v5")


def test_check_env_id_accepts_known_ids():
    for env_id in ("CartPole-v1", "ALE/Pong-v5", "MinAtar/Breakout-v1", "MinAtar/Freeway-v0"):
        check_env_id(env_id)


def test_malformed_ids():
    with pytest.raises(ValueError, match="at most one ':'"):
        check_env_id("a:b:c-v0")
    with pytest.raises(TypeError, match="env_id must be a str"):
        check_env_id(3)  # type: ignore[arg-type]


# --- env_info / require_action_space -----------------------------------------------------------


def test_env_info():
    atari = env_info("ALE/Pong-v5")
    assert atari == EnvSpecInfo(
        env_id="ALE/Pong-v5",
        obs_shape=(4, 84, 84),
        obs_dtype=np.dtype(np.uint8),
        action_space=spaces.Discrete(6),
        num_actions=6,
        kind="atari",
        frame_stack=4,
        observation_space=spaces.Box(0, 255, (4, 84, 84), np.uint8),
    )
    cart = env_info("CartPole-v1")
    assert (cart.obs_shape, cart.obs_dtype, cart.num_actions, cart.kind, cart.frame_stack) == (
        (4,),
        np.dtype(np.float32),
        2,
        "vector",
        0,
    )
    assert (cart.action_shape, cart.action_dtype) == ((), np.dtype(np.int64))
    pendulum = env_info("Pendulum-v1")
    assert pendulum.num_actions is None and isinstance(pendulum.action_space, spaces.Box)
    assert (pendulum.action_shape, pendulum.action_dtype) == ((1,), np.dtype(np.float32))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cart.num_actions = 3  # type: ignore[misc]


# --- vector envs ---------------------------------------------------------------------------


def test_vector_env_sub_envs_are_seeded_with_seed_plus_index():
    vec = make_vector_env("CartPole-v1", 3, 10)
    assert vec.autoreset_mode == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = vec.reset()
    assert obs.shape == (3, 4) and obs.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(obs[i], make_env("CartPole-v1", 10 + i).reset()[0])
    vec.close()


def test_final_observations_and_completed_episodes():
    """Each vector row is checked against a single env replaying the same seed and actions."""
    n, limit, seed = 2, 5, 20
    vec = make_vector_env("CartPole-v1", n, seed, max_episode_steps=limit, context="actor 3")
    singles = [make_env("CartPole-v1", seed + i, max_episode_steps=limit) for i in range(n)]
    obs, _ = vec.reset()
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(obs[i], env.reset()[0])
    rng = np.random.default_rng(0)
    returns = [0.0] * n
    lengths = [0] * n
    ended = 0
    for _ in range(3 * limit):
        actions = rng.integers(0, 2, size=n)
        next_obs, reward, terminated, truncated, info = vec.step(actions)
        done = terminated | truncated
        before = next_obs.copy()
        true_next = final_observations(next_obs, info, done)
        np.testing.assert_array_equal(next_obs, before)  # input untouched
        assert true_next is not next_obs
        expected_episodes = []
        for i, env in enumerate(singles):
            s_next, r, term, trunc, _ = env.step(int(actions[i]))
            returns[i] += r
            lengths[i] += 1
            assert (term, trunc) == (terminated[i], truncated[i])
            np.testing.assert_array_equal(true_next[i], s_next)
            if term or trunc:
                expected_episodes.append((i, returns[i], lengths[i]))
                returns[i], lengths[i] = 0.0, 0
                reset_obs, _ = env.reset()
                np.testing.assert_array_equal(next_obs[i], reset_obs)  # autoreset row
                assert not np.array_equal(true_next[i], next_obs[i])
            else:
                np.testing.assert_array_equal(next_obs[i], s_next)
        assert completed_episodes(info) == expected_episodes
        ended += len(expected_episodes)
    assert ended >= n * 2  # the forced time limit ended several episodes
    vec.close()


def test_completed_episodes_formats():
    assert completed_episodes({}) == []
    same_step = {
        "final_info": {
            "episode": {"r": np.array([0.0, 7.5, 2.0]), "l": np.array([0, 12, 3]), "t": np.zeros(3)},
            "_episode": np.array([False, True, True]),
        },
        "_final_info": np.array([False, True, True]),
    }
    assert completed_episodes(same_step) == [(1, 7.5, 12), (2, 2.0, 3)]
    next_step = {"episode": {"r": np.array([4.0, 0.0]), "l": np.array([9, 0])}, "_episode": np.array([True, False])}
    assert completed_episodes(next_step) == [(0, 4.0, 9)]
    result = completed_episodes(same_step)[0]
    assert type(result[1]) is float and type(result[2]) is int


def test_final_observations_errors():
    next_obs = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(final_observations(next_obs, {}, np.array([False, False])), next_obs)
    with pytest.raises(ValueError, match=r"sub-envs \[1\] are done but info has no 'final_obs'"):
        final_observations(next_obs, {}, np.array([False, True]))
    info = {"final_obs": np.array([None, None], dtype=object), "_final_obs": np.array([False, False])}
    with pytest.raises(ValueError, match=r"sub-envs \[0\] are done but info\['_final_obs'\] is False"):
        final_observations(next_obs, info, np.array([True, False]))
    with pytest.raises(ValueError, match=r"done must have shape \(2,\)"):
        final_observations(next_obs, info, np.array([True]))


def test_vector_env_errors_name_the_sub_env():
    register_fake_envs()
    vec = make_vector_env(SCRIPTED_ID, 2, 0, context="actor 3", faults={2: "nan_reward"})
    vec.reset()
    vec.step(np.zeros(2, dtype=np.int64))
    expected = r"'ApexrlTest/Scripted-v0' \(actor 3, sub-env 0\).*step 2 of episode 1.*reward is NaN/inf"
    with pytest.raises(EnvError, match=expected):
        vec.step(np.zeros(2, dtype=np.int64))


def test_atari_training_vector_env_reports_whole_games_only():
    vec = make_vector_env("ALE/Breakout-v5", 2, 0)
    vec.reset()
    life_ends = 0
    for _ in range(2000):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert obs.shape == (2, 4, 84, 84)
        episodes = completed_episodes(info)
        for i in np.flatnonzero(terminated | truncated):
            if info["final_info"]["lives"][i] > 0:
                life_ends += 1
                assert i not in [e[0] for e in episodes]
        if episodes:
            break
    assert episodes and life_ends >= 4  # Breakout: 4 life losses before the first game over
    i, raw_return, length = episodes[0]
    assert info["final_info"]["lives"][i] == 0 and length > 0 and raw_return >= 0
    vec.close()


def test_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        make_vector_env("CartPole-v1", 0, 0)
