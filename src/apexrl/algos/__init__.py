"""Algorithms: each is a configuration (with presets per environment family) plus a builder.

``ALGORITHMS`` maps the CLI name to its module, which provides ``CONFIG`` (the frozen config
class), ``PRESETS`` (name -> config factory) and ``train(config)``.
"""

from apexrl.algos import apex_dqn

ALGORITHMS = {"apex-dqn": apex_dqn}

__all__ = ["ALGORITHMS", "apex_dqn"]
