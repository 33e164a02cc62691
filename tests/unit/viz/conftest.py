"""Synthetic run directories for the viz tests: config.json (a real configuration) and metrics.csv."""

import csv
import dataclasses
import json
import os

import pytest

from apexrl.agents import AGENTS
from apexrl.config import to_dict
from apexrl.logging import CSV_COLUMNS


def write_run(root, name, *, algo="apex-dqn", env_id="CartPole-v1", seed=0, rows=(), summary=None, preset=None):
    """A run directory ``root/name`` whose metrics.csv has ``rows`` (dicts of CSV columns)."""
    spec = AGENTS[algo]
    config = spec.presets[preset]() if preset else spec.default()
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, env_id=env_id, seed=seed))
    path = os.path.join(str(root), name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"algo": algo, "config": to_dict(config)}, f)
    with open(os.path.join(path, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow(row)
    if summary is not None:
        with open(os.path.join(path, "summary.json"), "w") as f:
            json.dump(summary, f)
    return path


@pytest.fixture
def make_run(tmp_path):
    return lambda name, **kw: write_run(tmp_path, name, **kw)


def write_network_run(root, name, *, env_id="MinAtar/Breakout-v1", preset="minatar", algo="apex-dqn", seed=0,
                      learner=None):
    """A run directory with a final model.safetensors of the run's real network (random weights,
    torch seed ``seed``); ``learner``: DQNConfig fields to replace."""
    import torch
    from safetensors.torch import save_file

    from apexrl.envs import env_info
    from apexrl.nets import build_dqn_network

    spec = AGENTS[algo]
    config = spec.presets[preset]()
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, env_id=env_id, seed=seed),
                                 learner=dataclasses.replace(config.learner, **(learner or {})))
    path = os.path.join(str(root), name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"algo": algo, "config": to_dict(config)}, f)
    torch.manual_seed(seed)
    network = build_dqn_network(config.learner, env_info(env_id))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, os.path.join(path, "model.safetensors"))
    return path
