"""Action spaces: require_action_space's messages, float32 Box actions, continuous envs, extras."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from fake_envs import BOX_ACTIONS_ID, register_box_action_env  # noqa: E402

from apexrl.envs import check_env_id, env_info, make_env, make_vector_env, require_action_space  # noqa: E402
from apexrl.envs import registry as registry_module  # noqa: E402
from apexrl.envs.actions import Float32Actions, action_space_error  # noqa: E402

FITTING = {"discrete": ["apex-dqn", "dqn", "rainbow"], "continuous": ["ddpg", "td3", "sac", "apex-dpg", "d4pg"]}


@pytest.fixture(autouse=True)
def _box_env():
    register_box_action_env()


def _error(*args, **kwargs) -> str:
    with pytest.raises(ValueError) as excinfo:
        require_action_space(*args, **kwargs)
    return str(excinfo.value)


# --- require_action_space ------------------------------------------------------------------
def test_discrete_algorithm_on_box_names_the_box_algorithms():
    assert _error("Pendulum-v1", "apex-dqn", "discrete", FITTING) == (
        "`apex-dqn` needs a Discrete action space but Pendulum-v1 has Box(-2.0, 2.0, (1,), float32); "
        "for Box actions use: ddpg, td3, sac, apex-dpg, d4pg")


def test_continuous_algorithm_on_discrete_names_the_discrete_algorithms():
    assert _error("CartPole-v1", "sac", "continuous", FITTING) == (
        "`sac` needs a 1-d Box action space with finite bounds but CartPole-v1 has Discrete(2); "
        "for Discrete actions use: apex-dqn, dqn, rainbow")
    assert _error("CartPole-v1", "sac", "continuous", {"continuous": ["sac"]}).endswith(
        "; no registered algorithm takes Discrete actions")


def test_fitting_spaces_return_the_env_info():
    info = require_action_space("Pendulum-v1", "sac", "continuous", FITTING)
    assert (info.env_id, info.action_shape, info.action_dtype) == ("Pendulum-v1", (1,), np.dtype(np.float32))
    info = require_action_space("MountainCarContinuous-v0", "d4pg", "continuous", FITTING)
    assert info.action_shape == (1,) and info.obs_shape == (2,)
    info = require_action_space("CartPole-v1", "apex-dqn", "discrete", FITTING)
    assert (info.num_actions, info.action_shape, info.action_dtype) == (2, (), np.dtype(np.int64))


def test_box_that_is_not_1d_or_has_infinite_bounds_is_refused():
    msg = _error(BOX_ACTIONS_ID, "td3", "continuous", FITTING, shape=(2, 3))
    assert msg == (f"`td3` needs a 1-d Box action space with finite bounds but {BOX_ACTIONS_ID} has "
                   "Box(-1.0, 1.0, (2, 3), float32): its shape is (2, 3), not (d,) with d >= 1; apexrl's "
                   "algorithms take Discrete actions or a 1-d Box with finite bounds")
    msg = _error(BOX_ACTIONS_ID, "sac", "continuous", FITTING, low=np.array([-1.0, -np.inf], np.float32),
                 high=np.array([1.0, np.inf], np.float32))
    assert "its bounds are not all finite (low [-1.0, -inf], high [1.0, inf])" in msg
    # the DQN family is told the same: the continuous ones would not take that Box either
    msg = _error(BOX_ACTIONS_ID, "apex-dqn", "discrete", FITTING, shape=(2, 3))
    assert msg.startswith(f"`apex-dqn` needs a Discrete action space but {BOX_ACTIONS_ID} has Box(")
    assert "its shape is (2, 3)" in msg and "ddpg" not in msg


def test_other_action_spaces_and_bad_arguments():
    msg = action_space_error("Multi-v0", "apex-dqn", "discrete", spaces.MultiDiscrete([3, 3]), FITTING)
    assert msg == ("`apex-dqn` needs a Discrete action space but Multi-v0 has MultiDiscrete([3 3]); apexrl's "
                   "algorithms take Discrete actions (apex-dqn, dqn, rainbow) or a 1-d Box with finite bounds "
                   "(ddpg, td3, sac, apex-dpg, d4pg), not MultiDiscrete")
    with pytest.raises(ValueError, match=r"kind must be one of discrete, continuous, any; got 'box'"):
        require_action_space("Pendulum-v1", "sac", "box", FITTING)
    with pytest.raises(ValueError, match=r"fitting has key 'box'"):
        require_action_space("Pendulum-v1", "sac", "continuous", {"box": ["sac"]})
    with pytest.raises(ValueError, match=r"fitting\['continuous'\] must be a list of algorithm names"):
        require_action_space("Pendulum-v1", "sac", "continuous", {"continuous": "sac"})


# --- float32 Box actions -------------------------------------------------------------------
def test_float64_box_actions_are_declared_float32_with_bounds_rounded_inwards():
    env = make_env(BOX_ACTIONS_ID, seed=0, low=-0.1, high=0.1, shape=(2,), dtype=np.float64)
    space = env.action_space
    assert space.dtype == np.float32 and space.shape == (2,)
    # float32(0.1) is 0.10000000149 > 0.1: the declared bound is the next float32 below it
    assert np.all(space.high.astype(np.float64) <= 0.1) and np.all(space.low.astype(np.float64) >= -0.1)
    np.testing.assert_array_equal(space.high, np.nextafter(np.float32(0.1), np.float32(0)))
    env.reset()
    action = np.array([0.0625, -0.09], np.float32)
    env.step(action)
    received = env.unwrapped.received[-1]
    assert received.dtype == np.float64
    np.testing.assert_array_equal(received, action.astype(np.float64))  # values unchanged
    assert (env_info(BOX_ACTIONS_ID, dtype=np.float64).action_dtype) == np.dtype(np.float32)
    copy = gym.make(pickle.loads(pickle.dumps(env.spec)))  # the wrapper is rebuilt from the spec
    assert copy.action_space == space
    env.close()
    copy.close()
    with pytest.raises(ValueError, match="Float32Actions needs a floating Box action space"):
        Float32Actions(gym.make("CartPole-v1"))


def test_float32_box_actions_are_not_wrapped():
    env = make_env("Pendulum-v1")
    chain = []
    e = env
    while hasattr(e, "env"):
        chain.append(type(e).__name__)
        e = e.env
    assert "Float32Actions" not in chain and env.action_space.dtype == np.float32
    env.close()


@pytest.mark.parametrize(("env_id", "obs_dim", "high"), [("Pendulum-v1", 3, 2.0),
                                                          ("MountainCarContinuous-v0", 2, 1.0)])
def test_classic_control_continuous_vector_envs(env_id, obs_dim, high):
    envs = make_vector_env(env_id, 2, seed=3)
    assert envs.single_action_space == spaces.Box(-high, high, (1,), np.float32)
    obs, _ = envs.reset()
    assert obs.shape == (2, obs_dim) and obs.dtype == np.float32
    rng = np.random.default_rng(0)
    for _ in range(20):  # float32 [E, 1] actions pass every ValidatedEnv layer
        obs, reward, term, trunc, _ = envs.step(rng.uniform(-high, high, (2, 1)).astype(np.float32))
        assert obs.dtype == np.float32 and np.isfinite(obs).all() and np.isfinite(reward).all()
    envs.close()


# --- extras --------------------------------------------------------------------------------
def test_missing_extras_are_named(monkeypatch):
    monkeypatch.setattr(registry_module, "register_dm_control", lambda: False)
    with pytest.raises(ValueError, match=r"DeepMind Control Suite task.*pip install 'apexrl\[control\]'"):
        check_env_id("dm_control/cartpole-swingup-v0")

    def no_mujoco(entry_point):
        raise gym.error.DependencyNotInstalled("MuJoCo is not installed")

    monkeypatch.setattr(registry_module, "load_env_creator", no_mujoco)
    with pytest.raises(ValueError, match=r"MuJoCo is not installed \(MuJoCo ids need apexrl's `mujoco` extra: "
                                         r"pip install 'apexrl\[mujoco\]'\)"):
        check_env_id("HalfCheetah-v5")


def test_dm_control_observations_are_the_flattened_dict_in_float32():
    pytest.importorskip("dm_control")
    from apexrl.envs.control import make_suite_env

    env = make_env("dm_control/cartpole-swingup-v0", seed=5)
    assert env.observation_space.shape == (5,) and env.observation_space.dtype == np.float32
    assert env.action_space == spaces.Box(-1.0, 1.0, (1,), np.float32)
    assert env.spec.entry_point == "apexrl.envs.control:make_suite_env"
    raw = make_suite_env("cartpole", "swingup")
    assert raw.action_space.dtype == np.float64
    obs, _ = env.reset()
    raw_obs, _ = raw.reset(seed=5)
    expected = np.concatenate([raw_obs["position"], raw_obs["velocity"]]).astype(np.float32)
    np.testing.assert_array_equal(obs, expected)
    for a in (0.5, -1.0, 0.25):
        obs, r, *_ = env.step(np.array([a], np.float32))
        raw_obs, raw_r, *_ = raw.step(np.array([a]))
        np.testing.assert_array_equal(obs, np.concatenate([raw_obs["position"], raw_obs["velocity"]]).astype(np.float32))
        assert r == raw_r
    env.close()
    raw.close()
    with pytest.raises(ValueError, match="Did you mean"):
        check_env_id("dm_control/cartpole-swingupp-v0")


def test_mujoco_warnings_become_python_warnings_and_write_no_log_file(tmp_path, monkeypatch):
    mujoco = pytest.importorskip("mujoco")
    from apexrl.envs.control import _mujoco_warning

    monkeypatch.chdir(tmp_path)
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(None)
    try:
        env = make_env("HalfCheetah-v5", seed=0)  # MuJoCo 3.17 warns about its XML's settotalmass
        env.reset()
        env.close()
        assert mujoco.get_mju_user_warning() is _mujoco_warning
        assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
        with pytest.warns(RuntimeWarning, match="^MuJoCo: unstable$"):
            _mujoco_warning("unstable")
    finally:
        mujoco.set_mju_user_warning(previous)


def test_kind_any_takes_discrete_and_bounded_box_actions_and_names_what_else_it_needs():
    assert action_space_error("CartPole-v1", "ppo", "any", spaces.Discrete(2), FITTING) is None
    assert action_space_error("Pendulum-v1", "ppo", "any", spaces.Box(-2.0, 2.0, (1,)), FITTING) is None
    msg = action_space_error("Multi-v0", "ppo", "any", spaces.MultiDiscrete([3, 3]), FITTING)
    assert msg == ("`ppo` needs a Discrete or a 1-d Box action space with finite bounds but Multi-v0 has "
                   "MultiDiscrete([3 3]): not MultiDiscrete")
    msg = action_space_error("Open-v0", "ppo", "any", spaces.Box(-np.inf, np.inf, (2,)), FITTING)
    assert msg.startswith("`ppo` needs a Discrete or a 1-d Box") and "bound" in msg


def test_agents_of_kind_any_are_listed_for_both_spaces(monkeypatch):
    import dataclasses

    from apexrl.agents import AGENTS, agents_for, get_agent

    monkeypatch.setitem(AGENTS, "either", dataclasses.replace(get_agent("dqn"), name="either", action_kind="any"))
    assert "either" in agents_for("discrete") and "either" in agents_for("continuous")
    assert "dqn" in agents_for("discrete") and "dqn" not in agents_for("continuous")
