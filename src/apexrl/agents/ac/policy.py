"""The actor side of ``a2c`` / ``ppo``: the acting network, the stochastic policy, the evaluation
policy and the rollout adder."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from apexrl.agents.base import PolicyStep
from apexrl.envs.spaces import scale_actions
from apexrl.losses.policy_gradient import categorical_log_prob, gaussian_log_prob, squashed_log_prob
from apexrl.nets.actor_critic import ActorCriticNetwork
from apexrl.replay.rollout import RolloutAdder


def build_network(config: Any, info: Any) -> ActorCriticNetwork:
    """The :class:`~apexrl.nets.actor_critic.ActorCriticNetwork` of a config for an env.

    Raises:
        ValueError: an action space that is neither ``Discrete`` nor a bounded 1-d ``Box``.
    """
    lc = config.learner
    space = info.action_space
    if isinstance(space, spaces.Box) and not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(f"{getattr(info, 'env_id', 'the env')}: the Box action space {space} must have finite "
                         "bounds (actions are scaled from [-1, 1] to them)")
    return ActorCriticNetwork(info.kind, info.obs_shape, space, lc.hidden_sizes, shared_torso=lc.shared_torso,
                              squash=lc.squash, log_std_init=lc.log_std_init,
                              obs_space=getattr(info, "observation_space", None), activation=lc.activation)


def distribution_log_prob(network: ActorCriticNetwork, out: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log π(a|s)`` ``[B]`` of stored actions under the head output ``out`` (logits, or the mean
    with ``network.log_std``): categorical, diagonal Gaussian, or squashed Gaussian of the pre-squash
    sample."""
    if network.discrete:
        return categorical_log_prob(out, actions)
    if network.squash:
        return squashed_log_prob(actions, out, network.log_std)
    return gaussian_log_prob(actions, out, network.log_std)


class ActorCriticPolicy:
    """Actor ``index``'s policy: samples from the network's distribution with the actor's generator.

    ``step`` returns ``actions`` (``Discrete``: ``[E]`` int64; ``Box``: the Gaussian sample ``u``
    ``[E, d]`` float32, which may lie outside ``[-1, 1]``), ``env_actions`` (``Box``: ``tanh(u)`` or
    ``clip(u, -1, 1)`` scaled to the bounds), ``q_taken = value = V(s)`` ``[E]`` (so the runtime
    hands the adder ``next_value``, with the final observation's value for truncated episodes; the
    rollout adder gives no priorities) and ``extras = {"log_prob": [E] float32, "value": [E]}``.
    """

    def __init__(self, config: Any, info: Any, network: ActorCriticNetwork, index: int,
                 rng: np.random.Generator) -> None:
        self.network = network
        self.rng = rng
        self.index = int(index)
        space = info.action_space
        self.low = getattr(space, "low", None)
        self.high = getattr(space, "high", None)

    def step(self, obs: np.ndarray) -> PolicyStep:
        """Sample actions for ``obs`` ``[E, *obs_shape]`` (one forward pass)."""
        net = self.network
        with torch.inference_mode():
            x = net.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
            out, value = net.heads(x)
            if net.discrete:
                gumbel = -np.log(-np.log(self.rng.uniform(1e-12, 1.0, tuple(out.shape))))
                actions_np = (out.numpy() + gumbel).argmax(axis=-1).astype(np.int64)  # Gumbel-max sample
                actions = torch.from_numpy(actions_np)
            else:
                std = net.log_std.exp().numpy()
                u = out.numpy() + std * self.rng.standard_normal(tuple(out.shape))
                actions_np = u.astype(np.float32)
                actions = torch.from_numpy(actions_np)
            log_prob = distribution_log_prob(net, out, actions).numpy().astype(np.float32)
        v = value.numpy().astype(np.float32)
        if net.discrete:
            env_actions = actions_np
        else:
            squashed = np.tanh(actions_np) if net.squash else np.clip(actions_np, -1.0, 1.0)
            env_actions = scale_actions(squashed, self.low, self.high)
        return PolicyStep(actions=actions_np, env_actions=env_actions, q_taken=v, value=v,
                          extras={"log_prob": log_prob, "value": v})

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``V(s)`` ``[K]`` float32 (final observations of truncated episodes)."""
        with torch.inference_mode():
            x = self.network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
            return self.network.value(x).numpy().astype(np.float32)

    def advance(self, frames: int) -> None:
        """No schedule on the actor side."""


def build_policy(config: Any, info: Any, network: ActorCriticNetwork, index: int,
                 rng: np.random.Generator) -> ActorCriticPolicy:
    """The :class:`ActorCriticPolicy` of actor ``index``."""
    return ActorCriticPolicy(config, info, network, index, rng)


def build_adder(config: Any, info: Any, num_envs: int, stream_offset: int) -> RolloutAdder:
    """Rollouts of ``config.learner.n_step`` steps of the actor's ``num_envs`` envs."""
    del info, stream_offset
    return RolloutAdder(num_envs, config.learner.n_step)


def greedy_actions(network: ActorCriticNetwork, obs: np.ndarray, action_space: Any, epsilon: float = 0.0,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """The evaluation policy: the distribution's mode (argmax of the logits; the Gaussian mean,
    tanh-squashed or clipped, scaled to the Box). ``epsilon`` and ``rng`` are ignored.

    Returns: ``[B]`` int64 or ``[B, d]`` float32 env actions for ``obs`` ``[B, *obs_shape]``.
    """
    del epsilon, rng
    with torch.inference_mode():
        actions = network(network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))).numpy()
    if network.discrete:
        return actions.argmax(axis=-1).astype(np.int64)
    return scale_actions(actions.astype(np.float32), action_space.low, action_space.high)
