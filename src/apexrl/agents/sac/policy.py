"""The actor side of SAC: the acting network and the stochastic squashed-Gaussian policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from apexrl.agents.base import PolicyStep
from apexrl.agents.common import box_action_space
from apexrl.envs.spaces import scale_actions
from apexrl.nets.continuous import SACNetworks, build_sac_networks


def build_network(config: Any, info: Any) -> SACNetworks:
    """SAC's policy and twin critics for an env (:func:`apexrl.nets.continuous.build_sac_networks`).

    Raises:
        ValueError: the env's action space is not a bounded one-dimensional ``Box``.
    """
    box = box_action_space(info, "sac")
    return build_sac_networks(info.kind, info.obs_shape, int(box.shape[0]), config.learner.hidden_sizes,
                              obs_space=getattr(info, "observation_space", None),
                              normalize_observations=config.learner.normalize_observations)


class SACPolicy:
    """Actor ``index``'s policy: ``a = tanh(mean + σ·ε)``, ``ε ~ N(0, I)`` from the actor's
    generator (uniformly random actions for the first ``random_action_frames`` frames). SAC's
    replay is uniform, so ``q_taken`` and ``value`` are ``None``.

    Args: as :class:`apexrl.agents.dpg.policy.DPGPolicy`.
    """

    def __init__(self, config: Any, info: Any, network: SACNetworks, index: int, rng: np.random.Generator) -> None:
        box = box_action_space(info, "sac")
        self.network = network
        self.rng = rng
        self.index = int(index)
        self.low, self.high = box.low, box.high
        self.act_dim = int(box.shape[0])
        self.random_action_frames = int(config.actor.random_action_frames)
        self.frames = 0

    def step(self, obs: np.ndarray) -> PolicyStep:
        """Sample actions ``[E, d]`` float32 in ``(-1, 1)`` for ``obs`` ``[E, *obs_shape]``."""
        e = obs.shape[0]
        if self.frames < self.random_action_frames:
            actions = self.rng.uniform(-1.0, 1.0, (e, self.act_dim)).astype(np.float32)
        else:
            with torch.inference_mode():
                x = self.network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
                mean, log_std = self.network.policy(x)
            u = mean.numpy() + np.exp(log_std.numpy()) * self.rng.standard_normal((e, self.act_dim))
            actions = np.tanh(u).astype(np.float32)
        return PolicyStep(actions=actions, env_actions=scale_actions(actions, self.low, self.high))

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``min_k Q_k(s, tanh(mean(s)))`` ``[K]`` float32 (the runtime does not call it: ``step``
        gives no values)."""
        with torch.inference_mode():
            x = self.network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
            return self.network.critic(x, self.network(x)).min(dim=0).values.numpy().astype(np.float32)

    def advance(self, frames: int) -> None:
        """Record the actor's frames (ends the random warm-up)."""
        self.frames = int(frames)


def build_policy(config: Any, info: Any, network: SACNetworks, index: int, rng: np.random.Generator) -> SACPolicy:
    """The :class:`SACPolicy` of actor ``index``."""
    return SACPolicy(config, info, network, index, rng)
