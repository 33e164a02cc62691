"""Replay subsystem: prioritized FIFO replay, slot storages and the actor-side n-step adder.

* :class:`SumTree`: batch-wise, Numba-compiled sum tree (Schaul et al. 2016).
* :class:`PrioritizedReplay`: proportional prioritized FIFO replay as used by Ape-X
  (Horgan et al. 2018), over a storage.
* :class:`ArrayStorage`: whole observations; :class:`FrameStorage`
  (:mod:`apexrl.replay.frame_storage`): pixel frames stored once, stacks rebuilt at sample
  time (Dopamine's circular buffer idea). Both store actions of any shape and dtype:
  ``[B]`` ``int64`` indices for ``Discrete``, ``[B, d]`` ``float32`` vectors for ``Box``.
* :class:`NStepAdder`, :func:`concat_items`: build n-step transitions and their initial
  priorities on the actor (Ape-X Algorithm 1).
"""

from apexrl.replay.adder import NStepAdder, concat_items, num_items, take_items
from apexrl.replay.prioritized import PrioritizedReplay
from apexrl.replay.frame_storage import FrameStorage
from apexrl.replay.storage import ArrayStorage
from apexrl.replay.sum_tree import SumTree

__all__ = [
    "ArrayStorage",
    "FrameStorage",
    "NStepAdder",
    "PrioritizedReplay",
    "SumTree",
    "concat_items",
    "num_items",
    "take_items",
]
