"""The sequence replay: PrioritizedReplay over SequenceStorage stores, samples and restores
sequences with their per-sequence priorities."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import PrioritizedReplay, concat_items, num_items
from apexrl.replay.sequence import SequenceAdder, SequenceItems
from apexrl.replay.sequence_storage import SequenceStorage

T = 6


def _items(n, seed=0):
    adder = SequenceAdder(2, (3,), np.float32, 4, 2, 4, 2)
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(x) for x in out) < n:
        done = rng.random(2) < 0.1
        items, _ = adder.add(rng.normal(size=(2, 3)).astype(np.float32), rng.integers(0, 3, 2), rng.normal(size=2),
                             rng.normal(size=(2, 3)).astype(np.float32), done, np.zeros(2, bool),
                             extras={"state": rng.normal(size=(2, 2, 4)).astype(np.float32)})
        if len(items):
            out.append(items)
    return concat_items(out)


def _replay(capacity=16, seed=0):
    return PrioritizedReplay(SequenceStorage(capacity, T, (3,), np.float32, 4), priority_exponent=0.9,
                             importance_sampling_exponent=0.6, seed=seed)


def test_store_read_and_fifo():
    items = _items(20)
    replay = _replay(capacity=16)
    first = SequenceItems(**{k: getattr(items, k)[:10] for k in items.field_names()})
    rest = SequenceItems(**{k: getattr(items, k)[10:] for k in items.field_names()})
    keys = np.concatenate([replay.add(first, None), replay.add(rest, None)])
    assert num_items(items) == len(items) >= 20 and len(replay) == 16
    np.testing.assert_array_equal(keys[-16:], np.arange(len(items) - 16, len(items)))
    got = replay.storage.read(keys[-16:] % 16)
    for name in items.field_names():
        np.testing.assert_array_equal(getattr(got, name), getattr(items, name)[-16:])


def test_per_sequence_priorities_drive_sampling():
    replay = _replay(capacity=8)
    keys = replay.add(_items(8), None)[:8]
    replay.update_priorities(keys, np.array([0, 0, 0, 10.0, 0, 0, 0, 0]))
    sample = replay.sample(32)
    assert isinstance(sample.data, SequenceItems) and sample.data.obs.shape == (32, T + 1, 3)
    assert (sample.keys == keys[3]).mean() > 0.99
    assert replay.can_sample(64)


def test_state_dict_round_trip():
    replay = _replay(capacity=24)
    items = _items(15, seed=1)
    replay.add(items, np.linspace(0.1, 2.0, len(items)))
    arrays, meta = replay.state_dict()
    arrays = {k: np.array(v) for k, v in arrays.items()}
    other = _replay(capacity=24, seed=9)
    other.load_state_dict(arrays, meta)
    a, b = replay.sample(10), other.sample(10)
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.weights, b.weights)
    for name in a.data.field_names():
        np.testing.assert_array_equal(getattr(a.data, name), getattr(b.data, name))
    bad = dict(arrays)
    bad["storage.state"] = bad["storage.state"][:, :, :2]
    with pytest.raises(ValueError, match="'state'"):
        _replay(capacity=24).load_state_dict(bad, meta)


def test_storage_checks():
    storage = SequenceStorage(4, T, (3,), np.float32, 4)
    with pytest.raises(TypeError, match="SequenceItems"):
        storage.write(np.arange(1), object())
    items = _items(2)
    wrong = SequenceItems(**{**{k: getattr(items, k) for k in items.field_names()}, "obs": items.obs[:, :3]})
    with pytest.raises(ValueError, match="items.obs"):
        storage.write(np.arange(len(items)), wrong)
    assert storage.nbytes == SequenceStorage.bytes_needed(4, T, (3,), np.float32, 4)
