"""Soft actor-critic (``sac``; Haarnoja et al. 2018, the version with twin critics and automatic
entropy temperature). Docs: ``docs/continuous-control.md``.

Builders for :class:`apexrl.agents.base.Agent` (torch is imported when they are called):
:func:`build_network`, :func:`build_policy`, :func:`build_learner`, :func:`greedy_actions`. The
learner is :class:`apexrl.agents.sac.learner.SACLearner`, the actor policy
:class:`apexrl.agents.sac.policy.SACPolicy`, the presets :mod:`apexrl.agents.sac.presets`.
"""

from __future__ import annotations

from apexrl.agents.base import Agent, lazy
from apexrl.agents.sac.config import SACAgentConfig, SACConfig
from apexrl.agents.sac.presets import PRESETS


build_network = lazy("apexrl.agents.sac.policy:build_network")
build_policy = lazy("apexrl.agents.sac.policy:build_policy")
build_learner = lazy("apexrl.agents.sac.learner:SACLearner")
greedy_actions = lazy("apexrl.agents.common:greedy_actions")  # tanh(mean) rescaled to the Box; ε ignored


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
