"""Optimizer state as flat named tensors (safetensors) plus JSON metadata, for checkpoints of
every learner. Nothing is pickled."""

from __future__ import annotations

from typing import Any

import torch


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """``({f"{prefix}.{param index}.{name}": CPU tensor}, param_groups as JSON-able dicts)`` of
    ``optimizer``'s state (Adam's ``step``, ``exp_avg``, ... ; scalars become 0-d tensors)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}.{index}.{name}"] = tensor.detach().cpu()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, Any],
                           groups: list[dict]) -> None:
    """Restore what :func:`optimizer_tensors` returned into ``optimizer`` (the state moves to its
    parameters' device).

    Raises:
        ValueError, KeyError, RuntimeError: the state does not fit the optimizer (torch's
            messages); callers wrap them into a ``ValueError`` naming the checkpoint.
    """
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    current = optimizer.state_dict()["param_groups"]
    if len(groups) != len(current):
        raise ValueError(f"{len(groups)} saved parameter groups for an optimizer with {len(current)}")
    restored = [{k: (tuple(v) if isinstance(now.get(k), tuple) else v) for k, v in saved.items()}
                for saved, now in zip(groups, current)]
    optimizer.load_state_dict({"state": state, "param_groups": restored})
