"""The ``local`` backend: one actor and the evaluator run inside the learner's process."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from torch import nn

from apexrl.agents import Agent
from apexrl.envs import EnvSpecInfo
from apexrl.replay.build import agent_replay
from apexrl.runtime.actor import Actor, ActorMessage, ActorRestarts, frames_per_step
from apexrl.runtime.evaluator import periodic_evaluation
from apexrl.runtime.params import LocalParams, SharedParams

log = logging.getLogger("apexrl")


def evaluator_restarts(config: Any) -> ActorRestarts:
    """The evaluator's supervision: ``--max-evaluator-restarts`` failures in a row stop the run."""
    return ActorRestarts(1, config.run.max_evaluator_restarts, role="evaluator", flag="--max-evaluator-restarts")


def evaluator_failed(restarts: ActorRestarts, error: str, trace: str | None) -> float:
    """Log an evaluator failure with its traceback; returns the delay before it may run again.

    Raises:
        ActorError: the evaluator is in a crash loop (the message names the last error).
    """
    delay = restarts.crashed(0, error)
    log.warning("evaluator failed (%s); %s; the periodic evaluations go on, the final one does not depend on "
                "it\n%s", error, restarts.describe(0), trace or "(no traceback: the process ended)")
    return delay


class LocalSource:
    """Steps one actor in this process until it has a message (B transitions).

    An exception in the actor's environment restarts the actor (new environments, newest
    parameters) after a short backoff; a crash loop stops the run
    (:class:`~apexrl.runtime.actor.ActorRestarts`).

    Args:
        config, algo, info, params: as for :class:`apexrl.runtime.actor.Actor` (``algo`` is the agent's name).
        generation: first seed generation (a resumed run passes a new one).
        start_frames: emulator frames already taken (continues an ε decay).
    """

    def __init__(self, config: Any, algo: str, info: EnvSpecInfo, params: SharedParams, generation: int = 0,
                 start_frames: int = 0) -> None:
        self.config, self.algo, self.info, self.params = config, algo, info, params
        self.generation = generation - 1
        self.frames = start_frames
        self.fps = frames_per_step(info.kind)
        self.restarts = ActorRestarts(1, config.actor.max_actor_restarts)
        self.restart_at: float | None = None
        self.actor: Actor | None = None

    def start(self) -> None:
        self.generation += 1
        self.actor = Actor(self.config, self.algo, self.info, 0, self.params, generation=self.generation,
                           start_frames=self.frames)

    def poll(self, max_messages: int, timeout: float) -> list[ActorMessage]:
        """Return one message when ``max_messages > 0`` (running the actor to produce it).

        Raises:
            ActorError: the actor is in a crash loop (``max_actor_restarts`` failures in a row
                without delivering experience; :class:`~apexrl.runtime.actor.ActorRestarts`).
        """
        if self.actor is None and self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.restart_at = None
            self.start()
        if max_messages <= 0 or self.actor is None:
            return []
        try:
            while True:
                message = self.actor.step()
                if message is not None:
                    self.frames += message.env_steps * self.fps
                    self.restarts.delivered(0)
                    return [message]
        except Exception as exc:
            self.stop()
            error = f"{type(exc).__name__}: {exc}"
            delay = self.restarts.crashed(0, error)
            log.warning("actor 0 crashed (%s); %s in %.1f s", error, self.restarts.describe(0), delay)
            self.restart_at = time.monotonic() + delay
            return []

    def stop(self) -> None:
        if self.actor is not None:
            actor, self.actor = self.actor, None
            try:
                actor.close()
            except Exception:  # a broken environment may fail to close too
                pass


class LocalEvaluator:
    """Evaluates the learner's network synchronously when asked. An evaluation that raises is
    logged with its traceback and skipped; ``--max-evaluator-restarts`` failures in a row stop the
    run (:class:`~apexrl.runtime.actor.ActorRestarts` with ``role="evaluator"``)."""

    def __init__(self, config: Any, algo: str, network: nn.Module, env_kwargs: dict[str, Any]) -> None:
        self.config, self.algo = config, algo
        self.restarts = evaluator_restarts(config)
        self.network = network
        self.env_kwargs = env_kwargs
        self._results: list[tuple[dict[str, float], list[float]]] = []
        self._count = 0

    def request(self, tag: dict[str, float]) -> bool:
        """Evaluate now; True (the request is consumed, with a result or a logged failure).

        Raises:
            ActorError: the evaluation failed ``max_evaluator_restarts`` + 1 times in a row.
        """
        count, self._count = self._count, self._count + 1
        try:
            returns = periodic_evaluation(self.algo, self.network, self.config.run, count, self.env_kwargs, tag)
        except Exception as exc:
            evaluator_failed(self.restarts, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return True
        self.restarts.delivered(0)
        self._results.append((tag, returns))
        return True

    def poll(self) -> list[tuple[dict[str, float], list[float]]]:
        results, self._results = self._results, []
        return results

    def stop(self) -> None:
        pass


class LocalBackend:
    """``--backend local``: the replay, one actor, the evaluator and the learner in this process.

    Parameters are handed over by reference (:class:`~apexrl.runtime.params.LocalParams`): the
    actor copies them when it pulls.
    """

    name = "local"

    def actor_processes(self, config: Any) -> int:
        """Processes this backend starts for actors besides the learner's: none."""
        return 0

    def replay(self, config: Any, info: EnvSpecInfo, agent: Agent) -> Any:
        """The run's replay (:func:`apexrl.replay.build.agent_replay`)."""
        return agent_replay(agent, config, info, seed=config.run.seed)

    def params(self, network: nn.Module) -> LocalParams:
        """Where the learner publishes ``network``'s parameters."""
        return LocalParams()

    def source(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, generation: int,
               start_frames: int) -> LocalSource:
        """The experience source: one in-process actor."""
        return LocalSource(config, algo, info, params, generation=generation, start_frames=start_frames)

    def evaluator(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, network: nn.Module,
                  env_kwargs: dict[str, Any]) -> LocalEvaluator:
        """Evaluates the learner's own ``network`` synchronously."""
        return LocalEvaluator(config, algo, network, env_kwargs)

    def placement_summary(self) -> dict[str, Any]:
        """Where things ran (nothing to say for one process)."""
        return {}
