"""POPGym (Morad et al. 2023, "POPGym: Benchmarking Partially Observable Reinforcement Learning"):
partially observable tasks that need memory, numpy and Gymnasium only (the ``popgym`` extra).

``import popgym`` registers its environments with Gymnasium as ``popgym-<Name>-v0``
(``popgym-PositionOnlyCartPoleEasy-v0``: CartPole without the velocities, 200 steps, return 1.0
when balanced throughout; ``popgym-RepeatPreviousEasy-v0``: repeat the card seen 4 steps
before). apexrl imports it when an id starts with :data:`POPGYM_PREFIX`, as it registers the
``MinAtar/`` ids; the ``module:EnvId`` form (``popgym:popgym-...``) works as for any package.
"""

from __future__ import annotations

import importlib.util

import gymnasium as gym

__all__ = ["POPGYM_EXTRA", "POPGYM_PREFIX", "is_popgym_id", "register_popgym"]

POPGYM_PREFIX = "popgym-"
POPGYM_EXTRA = "pip install 'apexrl[popgym]'"
"""How to install what ``popgym-*`` ids need (quoted in errors)."""

_PROBE_ID = "popgym-RepeatPreviousEasy-v0"


def is_popgym_id(env_id: str) -> bool:
    """Whether ``env_id`` names a POPGym environment (``popgym-...``)."""
    return env_id.startswith(POPGYM_PREFIX)


def register_popgym() -> bool:
    """Register POPGym's ids with Gymnasium (idempotent); False when ``popgym`` is not installed."""
    if _PROBE_ID in gym.registry:
        return True
    if importlib.util.find_spec("popgym") is None:
        return False
    importlib.import_module("popgym.envs")
    return _PROBE_ID in gym.registry
