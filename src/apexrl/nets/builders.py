"""The network of a DQN-family configuration."""

from __future__ import annotations

from typing import Any

from torch import nn

from apexrl.nets.distributional import build_categorical_q_network
from apexrl.nets.q import build_q_network


def build_dqn_network(config: Any, info: Any) -> nn.Module:
    """The Q network a :class:`apexrl.config.DQNConfig` describes for an environment.

    Args:
        config: ``DQNConfig`` (uses ``hidden_sizes``, ``dueling``, ``distributional``,
            ``num_atoms``, ``v_min``, ``v_max``, ``noisy``, ``noisy_sigma0``).
        info: :class:`apexrl.envs.EnvSpecInfo` (``kind``, ``obs_shape``, ``num_actions`` and, if
            present, ``observation_space``, which selects the input encoder of
            :mod:`apexrl.nets.encoders`).

    Returns: a module mapping ``obs [B, *obs_shape]`` to Q-values ``[B, A]`` float32; a
    :class:`~apexrl.nets.distributional.CategoricalQNetwork` when ``distributional``.
    """
    obs_space = getattr(info, "observation_space", None)
    if config.distributional:
        return build_categorical_q_network(info.kind, info.obs_shape, int(info.num_actions), config.hidden_sizes,
                                           config.dueling, num_atoms=config.num_atoms, v_min=config.v_min,
                                           v_max=config.v_max, noisy=config.noisy, sigma0=config.noisy_sigma0,
                                           obs_space=obs_space)
    return build_q_network(info.kind, info.obs_shape, int(info.num_actions), config.hidden_sizes, config.dueling,
                           noisy=config.noisy, sigma0=config.noisy_sigma0, obs_space=obs_space)
