"""Soft actor-critic (``sac``; Haarnoja et al. 2018, the version with twin critics and automatic
entropy temperature). Docs: ``docs/continuous-control.md``.

Builders for :class:`apexrl.agents.base.Agent` (torch is imported when they are called):
:func:`build_network`, :func:`build_policy`, :func:`build_learner`, :func:`greedy_actions`. The
learner is :class:`apexrl.agents.sac.learner.SACLearner`, the actor policy
:class:`apexrl.agents.sac.policy.SACPolicy`, the presets :mod:`apexrl.agents.sac.presets`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.agents.base import Agent
from apexrl.agents.sac.config import SACAgentConfig, SACConfig
from apexrl.agents.sac.presets import PRESETS


def build_network(config: Any, info: Any) -> Any:
    """The Gaussian policy and twin critics (:func:`apexrl.agents.sac.policy.build_network`)."""
    from apexrl.agents.sac.policy import build_network as build

    return build(config, info)


def build_policy(config: Any, info: Any, network: Any, index: int, rng: np.random.Generator) -> Any:
    """Actor ``index``'s :class:`~apexrl.agents.sac.policy.SACPolicy`."""
    from apexrl.agents.sac.policy import SACPolicy

    return SACPolicy(config, info, network, index, rng)


def build_learner(config: Any, info: Any, seed: int, device: Any) -> Any:
    """The :class:`~apexrl.agents.sac.learner.SACLearner` of a :class:`SACAgentConfig` on ``device``."""
    from apexrl.agents.sac.learner import SACLearner

    return SACLearner(config, info, seed, device)


def greedy_actions(network: Any, obs: np.ndarray, action_space: Any, epsilon: float = 0.0,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """tanh(mean) rescaled to the Box (:func:`apexrl.agents.common.greedy_actions`; ε ignored)."""
    from apexrl.agents.common import greedy_actions as act

    return act(network, obs, action_space, epsilon, rng)


AGENTS: list[Agent] = [
    Agent(name="sac", doc="SAC (Haarnoja et al. 2018): a squashed-Gaussian policy, twin soft Q critics with Polyak "
                          "targets and an automatically tuned entropy temperature; uniform replay, one actor.",
          config_class=SACAgentConfig, presets=PRESETS, default=PRESETS["pendulum"], single_actor=True,
          action_kind="continuous", build_network=build_network, build_policy=build_policy,
          build_learner=build_learner, greedy_actions=greedy_actions),
]
"""SAC's agent record (registered by :mod:`apexrl.agents`)."""

__all__ = ["AGENTS", "SACAgentConfig", "SACConfig", "build_learner", "build_network", "build_policy",
           "greedy_actions"]
