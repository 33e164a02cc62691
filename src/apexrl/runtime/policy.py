"""Loading a trained run's network for evaluation or inference."""

from __future__ import annotations

import json
import os
from typing import Any

from safetensors.torch import load_file
from torch import nn

from apexrl.config import ApexDQNConfig, from_dict
from apexrl.envs import env_info
from apexrl.nets import build_dqn_network
from apexrl.runtime.actor import env_kwargs_for


def load_run_network(run_dir: str) -> tuple[nn.Module, ApexDQNConfig, dict[str, Any]]:
    """Rebuild the Q network of a run directory from ``config.json`` and ``model.safetensors``.

    Returns ``(network in eval mode, config, make_env keyword arguments)``.

    Raises:
        FileNotFoundError: the run directory or one of its two files is missing.
        ValueError: the files do not describe a network of this version of apexrl.
    """
    config_path = os.path.join(run_dir, "config.json")
    model_path = os.path.join(run_dir, "model.safetensors")
    for path in (config_path, model_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: is {run_dir!r} a finished apexrl run directory?")
    with open(config_path) as f:
        data = json.load(f)
    config = from_dict(ApexDQNConfig, data["config"])
    info = env_info(config.run.env_id)
    network = build_dqn_network(config.learner, info)
    try:
        network.load_state_dict(load_file(model_path))
    except RuntimeError as exc:
        raise ValueError(f"{model_path} does not match the network in {config_path}: {exc}") from exc
    network.eval()
    return network, config, env_kwargs_for(config, info)
