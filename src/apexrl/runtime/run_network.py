"""Which network of a run directory the commands that read a run use (``apexrl eval``,
``apexrl export``, and later ``video`` and ``inspect``): written once, here.

The rule: the final network ``model.safetensors`` when the run has one that is not older than its
newest complete checkpoint; otherwise the newest complete checkpoint that passes its checks
(:func:`apexrl.runtime.checkpoint.load_latest`), so a run stopped with Ctrl-C or SIGTERM can be
evaluated and exported. A run that finished and was then continued with ``--resume`` and stopped
again has a checkpoint newer than its old final network, and the checkpoint is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from safetensors.torch import load_file

from apexrl.agents import get_agent
from apexrl.config import from_dict


@dataclass(frozen=True)
class RunNetwork:
    """The network :func:`resolve_run_network` chose.

    Attributes:
        state: the online network's state dict (name -> CPU tensor).
        config: the run's configuration (``config.json``), an instance of its agent's config class.
        algo: the algorithm that trained it.
        source: the file or checkpoint directory it was read from.
        kind: ``"final"`` (``model.safetensors``) or ``"checkpoint"``.
        learner_steps: learner updates behind it (``None`` when the run does not say).
    """

    state: dict[str, Any]
    config: Any
    algo: str
    source: str
    kind: str
    learner_steps: int | None

    def describe(self) -> str:
        """``final network RUN/model.safetensors`` or ``checkpoint RUN/checkpoints/… (learner
        step N; the run has no final network)``, for messages."""
        steps = "" if self.learner_steps is None else f"learner step {self.learner_steps:,}"
        if self.kind == "final":
            return f"final network {self.source}" + (f" ({steps})" if steps else "")
        return f"checkpoint {self.source} ({steps + '; ' if steps else ''}newest complete checkpoint, " \
               "no newer final network)"


def resolve_run_network(run_dir: str) -> RunNetwork:
    """The network of ``run_dir`` by the rule of this module.

    Raises:
        FileNotFoundError: no ``config.json`` (not a run directory), or neither a final network nor
            a usable checkpoint.
        ValueError: ``config.json`` does not describe a configuration of this version.
    """
    from apexrl.runtime.checkpoint import CheckpointError, checkpoint_dirs, load_latest

    config_path = os.path.join(run_dir, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{config_path} not found: is {run_dir!r} an apexrl run directory?")
    with open(config_path) as f:
        data = json.load(f)
    algo = data.get("algo", "apex-dqn")
    config = from_dict(get_agent(algo).config_class, data["config"])
    model = os.path.join(run_dir, "model.safetensors")
    newest = checkpoint_dirs(run_dir)
    if os.path.exists(model) and (not newest or os.path.getmtime(model) >= os.path.getmtime(newest[0])):
        steps = None
        summary = os.path.join(run_dir, "summary.json")
        if os.path.exists(summary):
            with open(summary) as f:
                steps = json.load(f).get("learner_steps")
        return RunNetwork(load_file(model), config, algo, model, "final", steps)
    try:
        ckpt = load_latest(run_dir)
    except CheckpointError as exc:
        raise FileNotFoundError(f"{run_dir!r} has neither a final model.safetensors nor a usable checkpoint "
                                f"({exc}); was the run stopped before its first checkpoint?") from exc
    state = {k[len("online."):]: v for k, v in ckpt.tensors.items() if k.startswith("online.")}
    steps = ckpt.state.get("counters", {}).get("learner_steps")
    return RunNetwork(state, config, algo, ckpt.path, "checkpoint", steps)
