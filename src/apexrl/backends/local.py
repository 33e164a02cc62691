"""The ``local`` backend: one actor and the evaluator run inside the learner's process."""

from __future__ import annotations

from typing import Any

from torch import nn

from apexrl.config import ApexDQNConfig
from apexrl.envs import EnvSpecInfo
from apexrl.runtime.actor import Actor, ActorError, ActorMessage
from apexrl.runtime.evaluator import periodic_evaluation
from apexrl.runtime.params import SharedParams


class LocalSource:
    """Steps one actor in this process until it has a message (B transitions)."""

    def __init__(self, config: ApexDQNConfig, info: EnvSpecInfo, params: SharedParams) -> None:
        self._args = (config, info, 0, params)
        self.actor: Actor | None = None

    def start(self) -> None:
        self.actor = Actor(*self._args)

    def poll(self, max_messages: int, timeout: float) -> list[ActorMessage]:
        """Return one message when ``max_messages > 0`` (running the actor to produce it)."""
        if max_messages <= 0 or self.actor is None:
            return []
        try:
            while True:
                message = self.actor.step()
                if message is not None:
                    return [message]
        except Exception as exc:
            raise ActorError(f"actor 0 failed: {type(exc).__name__}: {exc}") from exc

    def stop(self) -> None:
        if self.actor is not None:
            self.actor.close()
            self.actor = None


class LocalEvaluator:
    """Evaluates the learner's network synchronously when asked."""

    def __init__(self, config: ApexDQNConfig, network: nn.Module, env_kwargs: dict[str, Any]) -> None:
        self.config = config
        self.network = network
        self.env_kwargs = env_kwargs
        self._results: list[tuple[dict[str, float], list[float]]] = []
        self._count = 0

    def request(self, tag: dict[str, float]) -> bool:
        returns = periodic_evaluation(self.network, self.config.run, self._count, self.env_kwargs)
        self._count += 1
        self._results.append((tag, returns))
        return True

    def poll(self) -> list[tuple[dict[str, float], list[float]]]:
        results, self._results = self._results, []
        return results

    def stop(self) -> None:
        pass
