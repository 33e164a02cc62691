"""Soft actor-critic (``sac``; Haarnoja et al. 2018, the version with twin critics and automatic
entropy temperature). Docs: ``docs/continuous-control.md``.

Builders for :class:`apexrl.agents.base.Agent`: :func:`build_network`, :func:`build_policy`,
:func:`build_learner`, :func:`greedy_actions`.
"""

from __future__ import annotations

from typing import Any

import torch

from apexrl.agents.common import greedy_actions
from apexrl.agents.sac.config import SACAgentConfig, SACConfig
from apexrl.agents.sac.learner import SACLearner
from apexrl.agents.sac.policy import SACPolicy, build_network, build_policy


def build_learner(config: Any, info: Any, seed: int, device: torch.device) -> SACLearner:
    """The :class:`SACLearner` of a :class:`SACAgentConfig` on ``device``."""
    return SACLearner(config, info, seed, device)


__all__ = ["SACAgentConfig", "SACConfig", "SACLearner", "SACPolicy", "build_learner", "build_network",
           "build_policy", "greedy_actions"]
