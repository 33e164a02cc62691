"""ValidatedEnv / EnvError: every bad reset/step result is caught with a clear message."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # pytest's default "prepend" import mode already put it there
    sys.path.insert(0, _HERE)
from fake_envs import SCRIPTED_ID, ScriptedEnv, register_fake_envs  # noqa: E402

from apexrl.envs import EnvError, ValidatedEnv, make_env  # noqa: E402


def checked(faults: dict[int, str], **kwargs) -> ValidatedEnv:
    return ValidatedEnv(
        ScriptedEnv(faults=faults, **kwargs), "Fake/Env-v0", "actor 3", layer="base env"
    )


def run_until_error(env: gym.Env, steps: int = 20) -> EnvError:
    with pytest.raises(EnvError) as excinfo:
        env.reset()
        for _ in range(steps):
            env.step(0)
    return excinfo.value


def test_env_error_is_value_error():
    assert issubclass(EnvError, ValueError)


def test_good_env_passes_values_through_unchanged():
    inner = ScriptedEnv(episode_len=3)
    env = ValidatedEnv(inner, "Fake/Env-v0")
    obs, info = env.reset()
    np.testing.assert_array_equal(obs, np.zeros(3, np.float32))
    assert info == {}
    for t in range(1, 4):
        obs, reward, terminated, truncated, info = env.step(0)
        np.testing.assert_array_equal(obs, np.full(3, t, np.float32))
        assert (reward, truncated) == (1.0, False)
        assert terminated == (t == 3)
    assert (env.episode, env.episode_step, env.total_steps) == (1, 3, 3)


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ("nan_obs", "observation contains NaN/inf"),
        ("inf_obs", "observation contains NaN/inf"),
        ("nan_reward", "reward is NaN/inf"),
        ("inf_reward", "reward is NaN/inf"),
    ],
)
def test_non_finite_values_raise_with_env_id_context_and_step(fault, fragment):
    err = run_until_error(checked({3: fault}))
    msg = str(err)
    assert fragment in msg
    assert "'Fake/Env-v0'" in msg
    assert "actor 3" in msg
    assert "step 3 of episode 1" in msg
    assert "base env" in msg
    if fault == "nan_obs":
        assert "first at index (1,): nan" in msg
        assert "1 non-finite of 3 entries" in msg
    if fault == "inf_reward":
        assert "-inf" in msg


def test_step_numbers_count_within_episode_and_lifetime():
    env = checked({}, episode_len=4)
    env.reset()
    for _ in range(4):
        env.step(0)
    env.unwrapped.faults[2] = "nan_obs"
    env.reset()
    env.step(0)
    with pytest.raises(EnvError, match=r"step 2 of episode 2 \(6 agent steps since the env was made\)"):
        env.step(0)


def test_wrong_shape_names_expected_and_actual():
    msg = str(run_until_error(checked({2: "wrong_shape"})))
    assert "does not match the declared observation_space" in msg
    assert "expected shape (3,), dtype float32" in msg
    assert "got shape (4,), dtype float32" in msg
    assert "step 2" in msg


def test_wrong_dtype_names_expected_and_actual():
    msg = str(run_until_error(checked({1: "wrong_dtype"})))
    assert "expected shape (3,), dtype float32" in msg
    assert "got shape (3,), dtype float64" in msg


def test_non_array_observation():
    msg = str(run_until_error(checked({1: "list_obs"})))
    assert "observation is not a NumPy array" in msg
    assert "got list [1.0, 1.0, 1.0]" in msg


def test_wrong_obs_at_reset():
    msg = str(run_until_error(checked({0: "wrong_shape"})))
    assert "reset() starting episode 1" in msg
    assert "got shape (4,)" in msg


def test_four_tuple_step():
    msg = str(run_until_error(checked({2: "four_tuple"})))
    assert "step() returned a malformed result" in msg
    assert "expected a 5-tuple (obs, reward, terminated, truncated, info)" in msg
    assert "got tuple of 4 element(s): (ndarray, float, bool, dict)" in msg
    assert "step 2 of episode 1" in msg


def test_bare_obs_reset():
    msg = str(run_until_error(checked({0: "bare_obs"})))
    assert "reset() returned a malformed result" in msg
    assert "expected a 2-tuple (obs, info)" in msg
    assert "got ndarray(shape=(3,), dtype=float32)" in msg


def test_non_bool_terminated_and_non_dict_info():
    msg = str(run_until_error(checked({1: "int_terminated"})))
    assert "`terminated` is not a bool" in msg and "got int 0" in msg
    msg = str(run_until_error(checked({1: "info_none"})))
    assert "info is not a dict" in msg and "got NoneType None" in msg


def test_non_box_space_uses_contains():
    class DiscreteObs(gym.Env):
        observation_space = spaces.Discrete(3)
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return 0, {}

        def step(self, action):
            return 7, 0.0, False, False, {}

    env = ValidatedEnv(DiscreteObs(), "Fake/Discrete-v0", "learner")
    assert env.reset()[0] == 0
    expected = r"not in the declared observation_space: expected an element of Discrete\(3\); got int 7"
    with pytest.raises(EnvError, match=expected):
        env.step(0)


def test_bad_space_at_construction():
    class NoSpace(gym.Env):
        observation_space = (3,)  # type: ignore[assignment]
        action_space = spaces.Discrete(2)

    expected = r"'Fake/NoSpace-v0' \(actor 1\).*`observation_space` must be a gymnasium.spaces.Space"
    with pytest.raises(EnvError, match=expected):
        ValidatedEnv(NoSpace(), "Fake/NoSpace-v0", "actor 1")


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ("nan_obs", "observation contains NaN/inf"),
        ("nan_reward", "reward is NaN/inf"),
        ("wrong_shape", "does not match the declared observation_space"),
        ("four_tuple", "step() returned a malformed result"),
    ],
)
def test_make_env_validates_every_step(fault, fragment):
    register_fake_envs()
    env = make_env(SCRIPTED_ID, seed=0, context="actor 3", faults={4: fault}, episode_len=20)
    env.reset()
    for _ in range(3):
        env.step(0)
    with pytest.raises(EnvError) as excinfo:
        env.step(0)
    msg = str(excinfo.value)
    assert fragment in msg
    assert f"'{SCRIPTED_ID}' (actor 3)" in msg
    assert "step 4 of episode 1" in msg


def test_make_env_malformed_reset():
    register_fake_envs()
    env = make_env(SCRIPTED_ID, context="actor 0", faults={0: "bare_obs"})
    expected = r"'ApexrlTest/Scripted-v0' \(actor 0\).*reset\(\) returned a malformed result"
    with pytest.raises(EnvError, match=expected):
        env.reset()
