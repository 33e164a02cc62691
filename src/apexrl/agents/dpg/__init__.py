"""The deterministic-policy-gradient agents on one learner with switches: ``ddpg`` (Lillicrap et
al. 2015), ``td3`` (Fujimoto et al. 2018), ``apex-dpg`` (Horgan et al. 2018) and ``d4pg``
(Barth-Maron et al. 2018). Docs: ``docs/continuous-control.md``.

Builders for :class:`apexrl.agents.base.Agent` (torch is imported when they are called, so that
importing the registry stays light): :func:`build_network`, :func:`build_policy`,
:func:`build_learner`, :func:`greedy_actions`. The learner is
:class:`apexrl.agents.dpg.learner.DPGLearner`, the actor policy
:class:`apexrl.agents.dpg.policy.DPGPolicy`, the presets :mod:`apexrl.agents.dpg.presets`.
"""

from __future__ import annotations

from apexrl.agents.base import Agent, lazy
from apexrl.agents.dpg.config import DPGAgentConfig, DPGConfig, GaussianNoiseConfig, apex_noise_scale
from apexrl.agents.dpg.presets import presets_of


build_network = lazy("apexrl.agents.dpg.policy:build_network")
build_policy = lazy("apexrl.agents.dpg.policy:build_policy")
build_learner = lazy("apexrl.agents.dpg.learner:DPGLearner")
greedy_actions = lazy("apexrl.agents.common:greedy_actions")  # μ(s) rescaled to the Box; ε ignored


def _agent(name: str, doc: str, single_actor: bool) -> Agent:
    presets = presets_of(name)
    return Agent(name=name, doc=doc, config_class=DPGAgentConfig, presets=presets, default=presets["pendulum"],
                 single_actor=single_actor, action_kind="continuous", build_network=build_network,
                 build_policy=build_policy, build_learner=build_learner, greedy_actions=greedy_actions)


AGENTS: list[Agent] = [
    _agent("ddpg", "DDPG (Lillicrap et al. 2015): a deterministic policy μ with a tanh output, one critic, "
                   "Polyak target networks, Gaussian exploration noise (not OU), uniform replay, one actor.", True),
    _agent("td3", "TD3 (Fujimoto et al. 2018): DDPG with twin critics (the minimum of their targets), target "
                  "policy smoothing (clipped noise on μ⁻(s')) and delayed policy updates.", True),
    _agent("apex-dpg", "Ape-X DPG (Horgan et al. 2018): N actors with their own Gaussian noise scale σ_i, n-step "
                       "DPG targets, proportional prioritized replay with initial priorities from the actors' "
                       "critics.", False),
    _agent("d4pg", "D4PG (Barth-Maron et al. 2018): a categorical critic (51 atoms on [v_min, v_max]) trained by "
                   "cross-entropy against the projected n-step target, prioritized replay, N actors.", False),
]
"""The DPG agents (registered by :mod:`apexrl.agents`), in ``--help`` order."""

__all__ = ["AGENTS", "DPGAgentConfig", "DPGConfig", "GaussianNoiseConfig", "apex_noise_scale", "build_learner",
           "build_network", "build_policy", "greedy_actions"]
