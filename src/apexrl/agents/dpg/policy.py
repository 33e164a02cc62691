"""The actor side of the deterministic-policy-gradient agents: the acting network and the
Gaussian-noise policy with initial priorities from the actor's own critic (Ape-X DPG, Horgan
et al. 2018: actors compute the priorities of their transitions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from apexrl.agents.base import PolicyStep
from apexrl.agents.common import box_action_space
from apexrl.agents.dpg.config import apex_noise_scale
from apexrl.envs.spaces import scale_actions
from apexrl.nets.continuous import DPGNetworks, build_dpg_networks


def build_network(config: Any, info: Any) -> DPGNetworks:
    """μ and the critic a :class:`~apexrl.agents.dpg.config.DPGAgentConfig` describes for an env
    (:func:`apexrl.nets.continuous.build_dpg_networks`).

    Raises:
        ValueError: the env's action space is not a bounded one-dimensional ``Box``.
    """
    lc = config.learner
    box = box_action_space(info, "ddpg / td3 / apex-dpg / d4pg")
    return build_dpg_networks(info.kind, info.obs_shape, int(box.shape[0]), lc.hidden_sizes,
                              twin_critics=lc.twin_critics, distributional=lc.distributional,
                              num_atoms=lc.num_atoms, v_min=lc.v_min, v_max=lc.v_max,
                              obs_space=getattr(info, "observation_space", None),
                              normalize_observations=lc.normalize_observations)


class DPGPolicy:
    """Actor ``index``'s policy: ``a = clip(μ(s) + N(0, σ_i²), −1, 1)`` (σ_i:
    :func:`~apexrl.agents.dpg.config.apex_noise_scale`), uniformly random actions for the first
    ``random_action_frames`` frames, ``q_taken = Q(s, a)`` and ``value = Q(s, μ(s))`` from the
    actor's critic (``Q_1`` of twin critics, ``E[Z]`` of the categorical one) in one batched pass.

    Args:
        config: the agent config; info: the env's :class:`~apexrl.envs.EnvSpecInfo`.
        network: the actor's :class:`~apexrl.nets.continuous.DPGNetworks` (CPU).
        index: the actor's index in ``[0, config.run.num_actors)``.
        rng: the actor's generator (noise and random actions).
    """

    def __init__(self, config: Any, info: Any, network: DPGNetworks, index: int, rng: np.random.Generator) -> None:
        box = box_action_space(info)
        self.network = network
        self.rng = rng
        self.low, self.high = box.low, box.high
        self.act_dim = int(box.shape[0])
        actor = config.actor
        self.sigma = apex_noise_scale(index, config.run.num_actors, actor.exploration_noise,
                                      actor.exploration_noise_alpha)
        self.random_action_frames = int(actor.random_action_frames)
        self.frames = 0

    def step(self, obs: np.ndarray) -> PolicyStep:
        """Explore on ``obs`` ``[E, *obs_shape]``; actions ``[E, d]`` float32 in ``[-1, 1]``."""
        e = obs.shape[0]
        with torch.inference_mode():
            x = self.network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
            mu = self.network.policy(x)
            if self.frames < self.random_action_frames:
                actions = self.rng.uniform(-1.0, 1.0, (e, self.act_dim)).astype(np.float32)
            else:
                noise = self.rng.standard_normal((e, self.act_dim)) * self.sigma
                actions = np.clip(mu.numpy() + noise, -1.0, 1.0).astype(np.float32)
            q = self.network.critic.q(torch.cat([x, x]), torch.cat([torch.from_numpy(actions), mu])).numpy()
        return PolicyStep(actions=actions, env_actions=scale_actions(actions, self.low, self.high),
                          q_taken=q[:e].astype(np.float32), value=q[e:].astype(np.float32))

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``Q(s, μ(s))`` ``[K]`` float32."""
        with torch.inference_mode():
            x = self.network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
            return self.network.critic.q(x, self.network.policy(x)).numpy().astype(np.float32)

    def advance(self, frames: int) -> None:
        """Record the actor's frames (ends the random warm-up)."""
        self.frames = int(frames)


def build_policy(config: Any, info: Any, network: DPGNetworks, index: int, rng: np.random.Generator) -> DPGPolicy:
    """The :class:`DPGPolicy` of actor ``index``."""
    return DPGPolicy(config, info, network, index, rng)
