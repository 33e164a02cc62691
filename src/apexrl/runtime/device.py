"""The learner's device (``--device auto|cpu|cuda[:N]``) and the host-to-device copy of batches.

Replay and actors stay on the host; a sampled batch (NumPy arrays) goes to the learner's device
through pinned (page-locked) memory with a non-blocking copy when that device is a CUDA device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` of a ``--device`` value: ``auto`` is ``cuda`` when a CUDA device is
    available and ``cpu`` otherwise.

    Raises:
        ValueError: ``cuda`` / ``cuda:N`` asked for on a machine without that CUDA device (the
            message names ``--device`` and the devices present).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise ValueError(f"invalid device={name!r} (--device): this machine has "
                             f"{count} CUDA device{'s' if count != 1 else ''}; use --device cpu or auto")
    return device


def to_device(device: torch.device) -> Callable[[np.ndarray], torch.Tensor]:
    """A function copying a NumPy array to ``device``: ``torch.from_numpy`` (no copy) on the CPU;
    pinned memory and a non-blocking copy to a CUDA device."""
    if device.type != "cuda":
        return torch.from_numpy

    def put(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).pin_memory().to(device, non_blocking=True)

    return put
