"""Training by name: ``train(config, "sac")`` picks the agent from the registry and the backend
from ``config.run.backend`` and runs the one training loop (:func:`apexrl.runtime.trainer.train`)."""

from __future__ import annotations

from typing import Any

from apexrl.agents import get_agent
from apexrl.backends import make_backend


def train(config: Any, algo: str, resume: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Train the agent registered as ``algo`` with ``config`` (continuing the run directory
    ``resume`` if given) and return the run summary.

    ``kwargs`` (``stop_requests``, ``progress_hook``) go to :func:`apexrl.runtime.trainer.train`;
    a backend whose learner runs elsewhere (``ray``) takes none.

    Raises:
        ValueError: an unknown algorithm or backend; everything
            :func:`apexrl.runtime.trainer.train` raises.
    """
    agent = get_agent(algo)
    if not isinstance(config, agent.config_class):
        raise ValueError(f"{algo} is configured with {agent.config_class.__name__}, got {type(config).__name__}")
    backend = make_backend(config.run.backend)
    if hasattr(backend, "launch"):
        return backend.launch(config, algo, resume)
    from apexrl.runtime.trainer import train as train_loop  # torch: only when training

    return train_loop(config, agent, backend, resume, **kwargs)
