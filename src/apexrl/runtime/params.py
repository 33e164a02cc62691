"""Parameter publication from the learner to actors through shared memory.

The learner writes a flat ``float32`` copy of its network's parameters into one shared tensor
guarded by a sequence lock (an even version number means the buffer is stable). Actors copy
the buffer when the version they hold is older. The same object works inside one process
(``local`` backend) and across spawned processes (``mp`` backend): the tensor is moved to
shared memory and the version lives in a :class:`multiprocessing.Value`.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import torch
from torch import nn


class SharedParams:
    """A versioned, shared flat copy of a network's parameters.

    Args:
        template: a network with the shapes to publish; its current values are not copied.
        ctx: multiprocessing context providing ``Value`` (spawn in the ``mp`` backend).

    ``version`` counts publications: 0 means nothing published yet.
    """

    def __init__(self, template: nn.Module, ctx: Any = None) -> None:
        numel = sum(p.numel() for p in template.parameters())
        self.buffer = torch.zeros(numel, dtype=torch.float32).share_memory_()
        self._seq = (ctx or mp).Value("q", 0, lock=False)

    @property
    def version(self) -> int:
        """Number of completed publications."""
        return int(self._seq.value) // 2

    def publish(self, network: nn.Module) -> bool:
        """Copy ``network``'s parameters into the shared buffer.

        Returns False, publishing nothing, if any parameter is NaN or infinite (NaN parameters
        are never sent to actors).
        """
        params = [p.detach() for p in network.parameters()]
        if not _all_finite(params):
            return False
        self._seq.value += 1  # odd: writing
        offset = 0
        for p in params:  # straight into the shared buffer: no temporary flat copy
            n = p.numel()
            self.buffer[offset:offset + n].view(p.shape).copy_(p)  # copy_ handles channels-last layouts
            offset += n
        self._seq.value += 1  # even: stable
        return True

    def pull(self, network: nn.Module, have_version: int = -1, timeout_s: float = 5.0) -> int:
        """Load the newest published parameters into ``network`` if newer than ``have_version``.

        Returns the version now held (``have_version`` when nothing newer, 0 if none published).

        Raises:
            TimeoutError: the buffer stayed mid-write for ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            before = int(self._seq.value)
            if before < 2 or before // 2 <= have_version:  # nothing (newer) to take
                return max(have_version, 0)
            if before % 2 == 0:
                flat = self.buffer.clone()
                if int(self._seq.value) == before:
                    _load_flat(flat, network)
                    return before // 2
            if time.monotonic() > deadline:
                raise TimeoutError("parameter buffer stayed mid-write; is the learner stuck?")
            time.sleep(0.0005)


def _all_finite(params: list[torch.Tensor]) -> bool:
    """Whether no parameter holds a NaN or an infinity (never publish or hand out such values)."""
    return all(bool(torch.isfinite(p).all()) for p in params)


def _load_flat(flat: torch.Tensor, network: nn.Module) -> None:
    """Copy a flat vector into the parameters in place (keeps each parameter's memory format)."""
    offset = 0
    with torch.no_grad():
        for p in network.parameters():
            n = p.numel()
            p.copy_(flat[offset:offset + n].view(p.shape))
            offset += n


class LocalParams:
    """:class:`SharedParams`' interface for an actor in the learner's own process (``local`` backend).

    :meth:`publish` only records that the network changed (O(1) per learner step); the copy
    happens when the actor pulls (every ``param_update_period_frames``), so the in-process actor
    sees exactly what a shared-memory publication would have shown it at that moment, without a
    copy of every parameter after every learner step. Parameters with a NaN or infinite value
    are never handed out: the actor keeps what it holds.
    """

    def __init__(self) -> None:
        self._source: nn.Module | None = None
        self._published = 0

    @property
    def version(self) -> int:
        """Number of publications so far."""
        return self._published

    def publish(self, network: nn.Module) -> bool:
        """Mark ``network`` as the newest parameters (read at the next :meth:`pull`); returns True."""
        self._source = network
        self._published += 1
        return True

    def pull(self, network: nn.Module, have_version: int = -1, timeout_s: float = 5.0) -> int:
        """Copy the newest parameters into ``network`` if newer than ``have_version``.

        Returns the version now held (``have_version`` when nothing newer or the newest
        parameters are not finite, 0 if none published).
        """
        if self._source is None or self._published <= have_version:
            return max(have_version, 0)
        params = [p.detach() for p in self._source.parameters()]
        if not _all_finite(params):
            return max(have_version, 0)
        with torch.no_grad():
            for dst, src in zip(network.parameters(), params):
                dst.copy_(src)
        return self._published
