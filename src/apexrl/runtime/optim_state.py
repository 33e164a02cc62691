"""An optimizer's state as safetensors-compatible tensors plus JSON metadata, and back.

``torch.optim.Optimizer.state_dict()`` mixes tensors (Adam's moments, step counts) with Python
values (hyperparameters, parameter indices); checkpoints keep tensors in safetensors and the rest
in JSON, never pickles. Every learner with an optimizer uses these two functions.
"""

from __future__ import annotations

from typing import Any

import torch


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor],
                                                                                list[dict[str, Any]]]:
    """``({"<prefix>.<param index>.<name>": CPU tensor}, param_groups)`` of ``optimizer``.

    Non-tensor state values (a float ``step`` of some optimizers) become 0-d tensors;
    ``param_groups`` is the JSON-able list of the groups' hyperparameters (tuples as lists).
    """
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}.{index}.{name}"] = tensor.detach().cpu().contiguous()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def load_optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                           param_groups: list[dict[str, Any]]) -> None:
    """Restore what :func:`optimizer_tensors` gave (keys of other prefixes are ignored); the
    state is moved to the parameters' device by ``Optimizer.load_state_dict``.

    Raises:
        ValueError: the groups or state do not fit ``optimizer`` (another architecture or
            optimizer); the message names ``prefix``.
    """
    start = prefix + "."
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(start):
            index, name = key[len(start):].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    current = optimizer.state_dict()["param_groups"]
    if len(param_groups) != len(current):
        raise ValueError(f"checkpoint {prefix} has {len(param_groups)} parameter groups, this learner {len(current)}")
    groups = []
    for saved, now in zip(param_groups, current):
        if len(saved.get("params", [])) != len(now["params"]):
            raise ValueError(f"checkpoint {prefix} holds {len(saved.get('params', []))} parameters, "
                             f"this learner's {len(now['params'])}")
        groups.append({k: (tuple(v) if isinstance(now.get(k), tuple) else v) for k, v in saved.items()})
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for index, entry in state.items():
        if not 0 <= index < len(params):
            raise ValueError(f"checkpoint {prefix} has state for parameter {index}, this learner has {len(params)}")
        for name, value in entry.items():
            if value.dim() > 0 and tuple(value.shape) != tuple(params[index].shape):
                raise ValueError(f"checkpoint {prefix}.{index}.{name} has shape {tuple(value.shape)}, "
                                 f"the parameter {tuple(params[index].shape)}")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"checkpoint {prefix} does not fit this optimizer: {exc}") from exc
