"""The deterministic-policy-gradient agents on one learner with switches: ``ddpg`` (Lillicrap et
al. 2015), ``td3`` (Fujimoto et al. 2018), ``apex-dpg`` (Horgan et al. 2018) and ``d4pg``
(Barth-Maron et al. 2018). Docs: ``docs/continuous-control.md``.

Builders for :class:`apexrl.agents.base.Agent`: :func:`build_network`, :func:`build_policy`,
:func:`build_learner`, :func:`greedy_actions`.
"""

from __future__ import annotations

from typing import Any

import torch

from apexrl.agents.common import greedy_actions
from apexrl.agents.dpg.config import DPGAgentConfig, DPGConfig, GaussianNoiseConfig, apex_noise_scale
from apexrl.agents.dpg.learner import DPGLearner
from apexrl.agents.dpg.policy import DPGPolicy, build_network, build_policy


def build_learner(config: Any, info: Any, seed: int, device: torch.device) -> DPGLearner:
    """The :class:`DPGLearner` of a :class:`DPGAgentConfig` on ``device``."""
    return DPGLearner(config, info, seed, device)


__all__ = ["DPGAgentConfig", "DPGConfig", "DPGLearner", "DPGPolicy", "GaussianNoiseConfig", "apex_noise_scale",
           "build_learner", "build_network", "build_policy", "greedy_actions"]
