"""Backends decide where actors, replay and the evaluator run and how bytes move between them.

- ``local``: one actor inside the learner's process (debugging, fast tests).
- ``mp``: actors in spawned processes, parameters in shared memory, one pipe per actor (default).
- ``ray``: actors, replay shards, the learner and the evaluator as Ray actors (``apexrl[ray]``).

Every backend runs the same :class:`apexrl.runtime.actor.Actor` for any agent. The training loop
(:func:`apexrl.runtime.trainer.train`) receives a backend object and uses only this interface:

- ``name``; ``actor_processes(config) -> int`` (cores taken besides the learner's);
- ``replay(config, info, agent)``: the agent's replay (:func:`apexrl.replay.build.agent_replay`; the learner's view of replay shards);
- ``params(network)``: where the learner publishes the acting network's parameters;
- ``source(config, algo, info, params, generation, start_frames)``: the experience source
  (``start``, ``poll(max_messages, timeout) -> [ActorMessage]``, ``stop``, ``restarts``);
- ``evaluator(config, algo, info, params, network, env_kwargs)``: ``request(tag) -> bool``,
  ``poll() -> [(tag, returns)]``, ``stop``;
- ``placement_summary() -> dict``: where things ran, for the run summary.

A backend whose learner runs elsewhere (Ray) also has ``launch(config, algo, resume)``, which
starts the training loop there and returns its summary.
"""

from __future__ import annotations

from typing import Any

from apexrl.backends.local import LocalBackend, LocalEvaluator, LocalSource
from apexrl.backends.mp import MPBackend, ProcessEvaluator, ProcessSource


def make_backend(name: str) -> Any:
    """The backend named by ``--backend``.

    Raises:
        ValueError: an unknown name, or ``ray`` without Ray installed (names ``--backend``).
    """
    if name == "local":
        return LocalBackend()
    if name == "mp":
        return MPBackend()
    if name == "ray":
        try:
            from apexrl.backends.ray_backend import RayBackend
        except ImportError as exc:
            raise ValueError(f"invalid backend='ray' (--backend): {exc}") from exc
        return RayBackend()
    raise ValueError(f"invalid backend={name!r} (--backend): must be local, mp or ray")


__all__ = ["LocalBackend", "LocalEvaluator", "LocalSource", "MPBackend", "ProcessEvaluator", "ProcessSource",
           "make_backend"]
