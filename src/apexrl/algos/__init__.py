"""Algorithms: each is a configuration (with presets per environment family) plus a trainer.

``ALGORITHMS`` maps the CLI name to an :class:`~apexrl.algos.dqn_family.Algorithm` (config
class, ``presets``, ``default``, ``train``). See :mod:`apexrl.algos.dqn_family` for the table
of the DQN family and :mod:`apexrl.algos.apex_dqn` for the environment-family presets.
"""

from apexrl.algos import apex_dqn
from apexrl.algos.dqn_family import ALGORITHMS, Algorithm

__all__ = ["ALGORITHMS", "Algorithm", "apex_dqn"]
