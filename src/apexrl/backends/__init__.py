"""Backends decide where actors run and how their messages reach the replay.

- ``local``: one actor inside the learner's process (debugging, fast tests).
- ``mp``: actors in spawned processes, parameters in shared memory, a bounded queue (default).

Both run the same :class:`apexrl.runtime.actor.Actor`. A backend is an *experience source*
(``start``, ``poll``, ``stop``) plus an *evaluator* (``request``, ``poll``, ``stop``).
"""

from apexrl.backends.local import LocalEvaluator, LocalSource
from apexrl.backends.mp import ProcessEvaluator, ProcessSource

__all__ = ["LocalEvaluator", "LocalSource", "ProcessEvaluator", "ProcessSource"]
