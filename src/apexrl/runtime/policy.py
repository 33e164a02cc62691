"""Loading a trained run's network for evaluation or inference, for any agent: the network is rebuilt
by the agent that trained it (:attr:`apexrl.agents.base.Agent.build_network`)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file
from torch import nn

from apexrl.agents import get_agent
from apexrl.config import from_dict
from apexrl.envs import env_info
from apexrl.envs.spaces import space_from_json, space_to_json
from apexrl.runtime.actor import env_kwargs_for
from apexrl.runtime.run_network import RunNetwork, resolve_run_network


def load_run_network(run_dir: str) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Rebuild the acting network (the Q network for the DQN family) of a run directory: its final ``model.safetensors``, or the newest
    complete checkpoint of a stopped run (:func:`apexrl.runtime.run_network.resolve_run_network`;
    :func:`load_run_network_from` also says which one).

    Returns ``(network in eval mode, config, make_env keyword arguments)``.

    Raises:
        FileNotFoundError: not a run directory, or no network in it.
        ValueError: the files do not describe a network of this version of apexrl.
    """
    network, config, env_kwargs, _ = load_run_network_from(run_dir)
    return network, config, env_kwargs


def load_run_network_from(run_dir: str) -> tuple[nn.Module, Any, dict[str, Any], RunNetwork]:
    """As :func:`load_run_network`, plus the :class:`~apexrl.runtime.run_network.RunNetwork` it
    was read from (``source``, ``kind``, ``describe()``)."""
    chosen = resolve_run_network(run_dir)
    config = chosen.config
    info = env_info(config.run.env_id)
    network = get_agent(chosen.algo).build_network(config, info)
    try:
        network.load_state_dict(chosen.state)
    except RuntimeError as exc:
        raise ValueError(f"{chosen.source} does not match the network in {run_dir}/config.json: {exc}") from exc
    network.eval()
    return network, config, env_kwargs_for(config, info), chosen


POLICY_FORMAT = "apexrl-policy-1"


def _network_from_run(run_dir: str) -> tuple[dict[str, Any], Any, str, str]:
    """``(online state dict, config, algo, source file)`` of a run, by
    :func:`apexrl.runtime.run_network.resolve_run_network`."""
    chosen = resolve_run_network(run_dir)
    return chosen.state, chosen.config, chosen.algo, chosen.source


def export_policy(run_dir: str, out: str) -> dict[str, Any]:
    """Write the policy network of a run alone to ``out`` (safetensors), with what is needed to
    rebuild it (network settings, observation shape and dtype, observation space as
    :func:`apexrl.envs.spaces.space_to_json` JSON in ``obs_space`` (the one-hot sizes of
    ``Discrete`` / ``MultiDiscrete``), action count, env id) in the file's metadata. Read it back
    with :func:`load_policy`.

    Returns the metadata written (plus ``out`` and ``source``).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json`` or no network to export.
        ValueError: the saved network does not match the run's configuration or has NaN values.
    """
    from apexrl import __version__
    from apexrl.config import to_dict

    state, config, algo, source = _network_from_run(run_dir)
    info = env_info(config.run.env_id)
    network = get_agent(algo).build_network(config, info)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{source} does not match the network in {run_dir}/config.json: {exc}") from exc
    tensors = {k: v.detach().contiguous() for k, v in network.state_dict().items()}
    if not all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point()):
        raise ValueError(f"{source} holds NaN or infinite parameters; refusing to export them")
    meta = {"format": POLICY_FORMAT, "apexrl_version": __version__, "algo": algo, "env_id": config.run.env_id,
            "kind": info.kind, "obs_shape": json.dumps(list(info.obs_shape)), "obs_dtype": str(np.dtype(info.obs_dtype)),
            "num_actions": str(info.num_actions), "learner": json.dumps(to_dict(config.learner)),
            "config": json.dumps(to_dict(config)), "action_space": json.dumps(space_to_json(info.action_space)),
            "env_kwargs": json.dumps(env_kwargs_for(config, info))}
    if info.observation_space is not None:  # what the network's input encoder is built from
        meta["obs_space"] = json.dumps(space_to_json(info.observation_space))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, out)
    return {**meta, "out": out, "source": source}


class Policy:
    """A trained Q-network policy for inference, from :func:`load_policy`.

    Attributes:
        network: the Q network (eval mode), ``obs [B, *obs_shape] -> Q [B, num_actions]`` float32.
        env_id: the environment it was trained on (make it with
            ``apexrl.make_env(env_id, training=False, **env_kwargs)``).
        obs_shape, obs_dtype, num_actions: what it takes and gives (``Discrete(n)``: ``obs_shape ()``,
            raw integer indices, one-hot encoded inside ``network``).
        observation_space: the Gymnasium space of the observations (None in files written before
            apexrl stored it; those are ``Box`` policies).
        action_space: the Gymnasium action space (None in files written before apexrl stored it;
            those are ``Discrete`` policies).
        algo: the algorithm that trained it.
        env_kwargs: extra ``make_env`` arguments of the training run (Atari sticky actions).
    """

    def __init__(self, network: nn.Module, meta: dict[str, str]) -> None:
        self.network = network
        self.env_id = meta["env_id"]
        self.algo = meta["algo"]
        self.obs_shape = tuple(json.loads(meta["obs_shape"]))
        self.obs_dtype = np.dtype(meta["obs_dtype"])
        self.num_actions = None if meta["num_actions"] == "None" else int(meta["num_actions"])
        self.env_kwargs: dict[str, Any] = json.loads(meta.get("env_kwargs", "{}"))
        self.observation_space = space_from_json(json.loads(meta["obs_space"])) if "obs_space" in meta else None
        self.action_space = space_from_json(json.loads(meta["action_space"])) if "action_space" in meta else None
        self.metadata = meta

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``[B, num_actions]`` float32 of observations ``[B, *obs_shape]`` (or one
        observation ``obs_shape`` -> ``[num_actions]``).

        Raises:
            ValueError: an observation of another shape, or for ``Discrete`` / ``MultiDiscrete`` /
                ``MultiBinary`` a value that is not an integer in the space (checked before the
                cast to the compact ``obs_dtype``, which would wrap it).
        """
        if self.observation_space is not None and np.dtype(self.obs_dtype).kind in "iu":
            _check_integer_obs(np.asarray(obs), self.observation_space)
        x = np.asarray(obs, dtype=self.obs_dtype)
        single = x.shape == self.obs_shape
        if single:
            x = x[None]
        if x.shape[1:] != self.obs_shape:
            raise ValueError(f"observation shape {np.shape(obs)} does not match the policy's {self.obs_shape} "
                             f"(or a batch [B, *{self.obs_shape}])")
        with torch.inference_mode():
            q = self.network(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return q[0] if single else q

    def act(self, obs: np.ndarray, epsilon: float = 0.0, rng: np.random.Generator | None = None) -> Any:
        """Greedy (or ε-greedy) actions: ``int64 [B]`` for a batch, an ``int`` for one observation.
        A continuous policy (``Box`` actions) gives its deterministic actions in the action space's
        units, ``float32 [B, d]`` (``[d]`` for one observation); ``epsilon`` does not apply to it."""
        if self.action_space is not None and not isinstance(self.action_space, spaces.Discrete):
            x = np.asarray(obs, dtype=self.obs_dtype)
            single = x.shape == self.obs_shape
            actions = get_agent(self.algo).greedy_actions(self.network, x[None] if single else x,
                                                         self.action_space, 0.0, rng or np.random.default_rng())
            return actions[0] if single else actions
        q = self.q_values(obs)
        actions = np.atleast_1d(q.argmax(axis=-1)).astype(np.int64)
        if epsilon > 0:
            rng = rng or np.random.default_rng()
            explore = rng.random(actions.shape[0]) < epsilon
            actions[explore] = rng.integers(0, self.num_actions, int(explore.sum()))
        return int(actions[0]) if q.ndim == 1 else actions

    __call__ = act


def _check_integer_obs(obs: np.ndarray, space: Any) -> None:
    """Raise ValueError unless ``obs`` holds integers inside ``space`` (``Discrete``,
    ``MultiDiscrete``: ``[start, start + n)``; ``MultiBinary``: 0/1), per element."""
    if obs.dtype.kind not in "iub" and not (obs.dtype.kind == "f" and np.array_equal(obs, np.round(obs))):
        raise ValueError(f"observations of {space} must be integers, got {obs.dtype} values")
    if isinstance(space, spaces.MultiBinary):
        low, high = np.zeros(space.shape, np.int64), np.ones(space.shape, np.int64)
    else:
        low = np.asarray(space.start, dtype=np.int64)
        high = low + np.asarray(getattr(space, "nvec", getattr(space, "n", 0)), dtype=np.int64) - 1
    if obs.size and ((obs < low).any() or (obs > high).any()):
        raise ValueError(f"observation values outside {space}: got range [{obs.min()}, {obs.max()}]")


def load_policy(path: str) -> Policy:
    """Read a policy written by ``apexrl export`` (:func:`export_policy`). Nothing is unpickled and
    no environment is created.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not an apexrl policy or its tensors do not fit its metadata.
    """
    from types import SimpleNamespace

    from safetensors import safe_open

    from apexrl.config import DQNConfig

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{path} is not a safetensors file: {exc}") from exc
    if meta.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path} is not an apexrl policy (metadata format {meta.get('format')!r}); "
                         "write one with: apexrl export RUN_DIR OUT.safetensors")
    obs_space = space_from_json(json.loads(meta["obs_space"])) if "obs_space" in meta else None
    action_space = space_from_json(json.loads(meta["action_space"])) if "action_space" in meta else None
    num_actions = None if meta["num_actions"] == "None" else int(meta["num_actions"])
    info = SimpleNamespace(kind=meta["kind"], obs_shape=tuple(json.loads(meta["obs_shape"])), num_actions=num_actions,
                           observation_space=obs_space, action_space=action_space)
    if "config" in meta:  # the agent that trained it rebuilds its network
        agent = get_agent(meta["algo"])
        network = agent.build_network(from_dict(agent.config_class, json.loads(meta["config"])), info)
    else:  # written before apexrl stored the whole configuration: a DQN-family Q network
        from apexrl.nets import build_dqn_network

        network = build_dqn_network(from_dict(DQNConfig, json.loads(meta["learner"])), info)
    try:
        network.load_state_dict(load_file(path))
    except RuntimeError as exc:
        raise ValueError(f"{path}: tensors do not fit the network its metadata describes: {exc}") from exc
    network.eval()
    return Policy(network, meta)
