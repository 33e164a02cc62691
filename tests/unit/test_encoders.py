"""Discrete / MultiDiscrete / MultiBinary observations (issue 21): the encoding inside the network,
the compact form through envs, actors and replay, and exported policies acting on raw integers."""

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from safetensors.torch import save_file

from apexrl.agents import AGENTS
from apexrl.config import ApexDQNConfig, DQNConfig, to_dict
from apexrl.envs import env_info, make_env, make_vector_env
from apexrl.envs.spaces import compact_int_dtype, compact_space, space_from_json, space_to_json
from apexrl.nets import BinaryEncoder, IdentityEncoder, OneHotEncoder, build_dqn_network, build_encoder
from apexrl.runtime.actor import Actor
from apexrl.runtime.checkpoint import load_latest, save_checkpoint
from apexrl.agents.dqn.learner import DQNLearner
from apexrl.runtime.params import SharedParams
from apexrl.runtime.policy import export_policy, load_policy
from apexrl.replay.build import build_replay
from apexrl.types import Transitions


class _SpaceEnv(gym.Env):
    """Observations of any space (sampled), 2 actions, episodes of 5 steps."""

    def __init__(self, space: spaces.Space) -> None:
        self.observation_space = space
        self.action_space = spaces.Discrete(2)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), float(action), self._t >= 5, False, {}


_SPACES = {
    "Test21/MultiDiscrete-v0": spaces.MultiDiscrete([3, 2], start=[-1, 4]),
    "Test21/MultiBinary-v0": spaces.MultiBinary([2, 3]),
    "Test21/DiscreteStart-v0": spaces.Discrete(5, start=-2),
    "Test21/Tuple-v0": spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))),
    "Test21/Dict-v0": spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Box(0, 1, (2,))}),
    "Test21/Text-v0": spaces.Text(5),
    "Test21/Graph-v0": spaces.Graph(spaces.Box(0, 1, (2,)), spaces.Discrete(2)),
}
for _id, _space in _SPACES.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=lambda space=_space, **kw: _SpaceEnv(space), max_episode_steps=50)


# --- the encoding, against hand-written vectors ----------------------------------------------------


def test_discrete_one_hot_minds_start():
    enc = build_encoder(spaces.Discrete(4, start=2))
    assert isinstance(enc, OneHotEncoder) and enc.in_shape == () and enc.out_shape == (4,)
    out = enc(torch.tensor([2, 5, 3], dtype=torch.int16))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]))


def test_multi_discrete_concatenates_one_hots():
    enc = build_encoder(spaces.MultiDiscrete([3, 2], start=[0, 1]))
    assert enc.in_shape == (2,) and enc.out_shape == (5,)
    out = enc(torch.tensor([[2, 1], [0, 2]], dtype=torch.int8))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0, 1, 1, 0], [1, 0, 0, 0, 1]]))
    # a 2-D nvec: components in C order
    enc2 = build_encoder(spaces.MultiDiscrete(np.array([[2, 3], [1, 2]])))
    assert enc2.out_shape == (8,)
    out2 = enc2(torch.tensor([[[1, 2], [0, 0]]]))
    torch.testing.assert_close(out2, torch.tensor([[0.0, 1, 0, 0, 1, 1, 1, 0]]))


def test_multi_binary_to_float_and_box_unchanged():
    enc = build_encoder(spaces.MultiBinary([2, 2]))
    assert isinstance(enc, BinaryEncoder) and enc.out_shape == (4,)
    out = enc(torch.tensor([[[1, 0], [0, 1]]], dtype=torch.int8))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[1.0, 0, 0, 1]]))
    box = build_encoder(spaces.Box(-1, 1, (3,)))
    assert isinstance(box, IdentityEncoder) and box.out_shape == (3,)
    x = torch.tensor([[0.5, -0.25, 1.0]])
    assert box(x) is x


def test_one_hot_refuses_values_outside_the_space_and_floats():
    enc = OneHotEncoder([3, 2], start=[0, 1])
    with pytest.raises(ValueError, match=r"outside \[start, start \+ n\)"):
        enc(torch.tensor([[3, 1]]))  # would light column 3, the second component's first
    with pytest.raises(ValueError, match="outside"):
        enc(torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="integer indices"):
        enc(torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="nvec must be non-empty"):
        OneHotEncoder([3, 0])


@pytest.mark.parametrize("space", [_SPACES["Test21/Tuple-v0"], _SPACES["Test21/Dict-v0"],
                                   _SPACES["Test21/Text-v0"], _SPACES["Test21/Graph-v0"]])
def test_unsupported_spaces_have_no_encoder(space):
    with pytest.raises(ValueError, match="gymnasium.wrappers.FlattenObservation"):
        build_encoder(space)


@pytest.mark.parametrize("env_id", ["Blackjack-v1", "Test21/Tuple-v0", "Test21/Dict-v0", "Test21/Text-v0",
                                    "Test21/Graph-v0"])
def test_unsupported_spaces_fail_before_anything_starts(env_id):
    with pytest.raises(ValueError, match=r"apexrl needs array observations \(Box, Discrete, MultiDiscrete or "
                                         r"MultiBinary\).*gymnasium\.wrappers\.FlattenObservation"):
        env_info(env_id)


# --- the compact form: envs, env_info, the network's input ------------------------------------------


def test_compact_dtypes():
    assert compact_int_dtype(0, 15) == np.uint8
    assert compact_int_dtype(0, 499) == np.int16
    assert compact_int_dtype(-3, 5) == np.int8
    assert compact_int_dtype(0, 2**40) == np.int64
    assert compact_space(spaces.MultiDiscrete([3, 2], start=[-1, 4])).dtype == np.int8
    with pytest.raises(ValueError, match="unsupported"):
        compact_space(spaces.Text(3))


@pytest.mark.parametrize("env_id, shape, dtype, encoded", [
    ("FrozenLake-v1", (), np.int64, (16,)),  # Discrete: Gymnasium's int64, as its checker requires
    ("Taxi-v4", (), np.int64, (500,)),
    ("Test21/DiscreteStart-v0", (), np.int64, (5,)),
    ("Test21/MultiDiscrete-v0", (2,), np.int8, (5,)),
    ("Test21/MultiBinary-v0", (2, 3), np.int8, (6,)),
])
def test_env_info_and_make_env_keep_the_compact_form(env_id, shape, dtype, encoded):
    info = env_info(env_id)
    assert (info.obs_shape, info.obs_dtype, info.kind) == (shape, np.dtype(dtype), "vector")
    assert build_encoder(info).out_shape == encoded
    env = make_env(env_id, seed=1)
    obs, _ = env.reset()
    assert np.shape(obs) == shape and np.asarray(obs).dtype == dtype
    envs = make_vector_env(env_id, 3, seed=1)
    batch, _ = envs.reset()
    assert batch.shape == (3, *shape) and batch.dtype == dtype
    net = build_dqn_network(DQNConfig(hidden_sizes=(8,)), info)
    q = net(torch.from_numpy(batch))
    assert q.shape == (3, info.num_actions)
    # the learner prepares a batch once (one-hot float) and feeds it to both networks: same values
    torch.testing.assert_close(net(net.prepare(torch.from_numpy(batch))), q)
    envs.close()


def test_network_state_dict_is_that_of_a_plain_mlp_on_the_one_hot():
    info = env_info("FrozenLake-v1")
    cfg = DQNConfig(hidden_sizes=(8, 8), dueling=True)
    net = build_dqn_network(cfg, info)
    box_info = dataclasses.replace(info, obs_shape=(16,), obs_dtype=np.dtype(np.float32),
                                   observation_space=spaces.Box(0, 1, (16,)))
    plain = build_dqn_network(cfg, box_info)
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(net.state_dict())
    states = torch.tensor([0, 5, 15], dtype=torch.uint8)
    torch.testing.assert_close(net(states), plain(torch.eye(16)[states.long()]))


# --- replay round trips in the compact dtype --------------------------------------------------------


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "Test21/MultiDiscrete-v0", "Test21/MultiBinary-v0"])
def test_replay_round_trip_in_the_compact_dtype(tmp_path, env_id):
    info = env_info(env_id)
    config = AGENTS["dqn"].presets["toy-text"]()
    replay = build_replay(dataclasses.replace(config.replay, replay_capacity=8), info, seed=0)
    space = info.observation_space
    space.seed(3)
    obs = np.stack([np.asarray(space.sample(), dtype=info.obs_dtype) for _ in range(6)])
    nxt = np.stack([np.asarray(space.sample(), dtype=info.obs_dtype) for _ in range(6)])
    items = Transitions(obs=obs, action=np.arange(6) % 2, reward=np.arange(6, dtype=np.float32),
                        discount=np.full(6, 0.99, np.float32), next_obs=nxt)
    replay.add(items, np.ones(6, np.float32))
    arrays, meta = replay.state_dict()
    assert arrays["storage.obs"].dtype == info.obs_dtype and arrays["storage.obs"].shape == (6, *info.obs_shape)
    # through a checkpoint on disk and back into a fresh replay
    save_checkpoint(str(tmp_path), 1, {"w": torch.zeros(1)}, arrays, {"replay": meta})
    ckpt = load_latest(str(tmp_path))
    replay = build_replay(dataclasses.replace(config.replay, replay_capacity=8), info, seed=0)
    replay.load_state_dict(ckpt.arrays, ckpt.state["replay"])
    assert len(replay) == 6
    batch = replay.sample(32)
    assert batch.data.obs.dtype == info.obs_dtype and batch.data.next_obs.dtype == info.obs_dtype
    rows = batch.data.reward.astype(int)  # reward j marks item j
    np.testing.assert_array_equal(batch.data.obs, obs[rows])
    np.testing.assert_array_equal(batch.data.next_obs, nxt[rows])


def test_actor_sends_and_learner_trains_on_compact_observations():
    config = AGENTS["dqn"].presets["toy-text"]()
    config = dataclasses.replace(config, actor=dataclasses.replace(config.actor, local_buffer_size=20))
    info = env_info("Taxi-v4")
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, env_id="Taxi-v4"))
    learner = DQNLearner(config.learner, info)
    params = SharedParams(learner.online)
    params.publish(learner.online)
    actor = Actor(config, "apex-dqn", info, 0, params)
    message = None
    while message is None:
        message = actor.step()
    actor.close()
    items = message.items
    assert items.obs.dtype == np.int64 and items.obs.shape == (len(items.action),)
    assert items.obs.min() >= 0 and items.obs.max() < 500
    replay = build_replay(config.replay, info, seed=0)
    replay.add(items, message.priorities)
    priorities, metrics = learner.update(replay.sample(16))
    assert priorities.shape == (16,) and np.isfinite(metrics["learner/loss"])


# --- exported policies act on raw integer observations ----------------------------------------------


def _fake_run(tmp_path, env_id, algo="dqn"):
    """A finished run directory (config.json, model.safetensors, summary.json) with fresh weights."""
    preset = AGENTS[algo].presets["toy-text"]()
    config = ApexDQNConfig(run=dataclasses.replace(preset.run, env_id=env_id), replay=preset.replay,
                           actor=preset.actor, learner=dataclasses.replace(preset.learner, hidden_sizes=(16,)))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"config": to_dict(config), "algo": algo}))
    torch.manual_seed(0)
    net = build_dqn_network(config.learner, env_info(env_id))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(run_dir / "model.safetensors"))
    (run_dir / "summary.json").write_text("{}")
    return str(run_dir), net


@pytest.mark.parametrize("env_id, algo", [("FrozenLake-v1", "dqn"), ("Test21/DiscreteStart-v0", "c51"),
                                          ("Test21/MultiDiscrete-v0", "dqn"), ("Test21/MultiBinary-v0", "dqn")])
def test_exported_policy_acts_on_raw_integer_observations(tmp_path, env_id, algo):
    run_dir, net = _fake_run(tmp_path, env_id, algo)
    out = str(tmp_path / "policy.safetensors")
    meta = export_policy(run_dir, out)
    info = env_info(env_id)
    assert space_from_json(json.loads(meta["obs_space"])) == info.observation_space
    policy = load_policy(out)  # no environment is made here
    assert policy.observation_space == info.observation_space
    assert policy.obs_shape == info.obs_shape and policy.obs_dtype == info.obs_dtype
    space = info.observation_space
    space.seed(0)
    raw = [space.sample() for _ in range(5)]
    batch = np.stack([np.asarray(o) for o in raw])
    with torch.inference_mode():
        expected = net(torch.from_numpy(batch.astype(info.obs_dtype))).numpy()
    np.testing.assert_allclose(policy.q_values(batch), expected, rtol=1e-6)
    np.testing.assert_array_equal(policy.act(batch), expected.argmax(axis=1))
    assert policy.act(raw[0]) == int(expected[0].argmax())  # one observation (an int for Discrete)


def test_policy_refuses_integers_outside_the_space(tmp_path):
    run_dir, _ = _fake_run(tmp_path, "FrozenLake-v1")
    policy = load_policy(export_policy(run_dir, str(tmp_path / "p.safetensors"))["out"])
    assert policy.act(15) in range(4)
    assert policy.act(np.array([0, 3, 7], dtype=np.int64)).shape == (3,)
    with pytest.raises(ValueError, match=r"outside Discrete\(16"):
        policy.act(16)  # an integer, but not a state
    with pytest.raises(ValueError, match="outside"):
        policy.act(np.array([1, -1]))
    with pytest.raises(ValueError, match="must be integers"):
        policy.act(2.5)


def test_space_json_round_trip():
    for space in (spaces.Discrete(7, start=-3, dtype=np.int8), spaces.MultiDiscrete([[2, 3], [4, 5]], dtype=np.uint8),
                  spaces.MultiBinary(4), spaces.MultiBinary([2, 3])):
        assert space_from_json(json.loads(json.dumps(space_to_json(space)))) == space
    box = space_from_json(space_to_json(spaces.Box(0, 255, (2, 3), np.uint8)))
    assert box.shape == (2, 3) and box.dtype == np.uint8
    with pytest.raises(ValueError, match="unknown space type"):
        space_from_json({"type": "Tuple"})
