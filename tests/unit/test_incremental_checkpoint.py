"""Incremental replay checkpoints: big arrays in chunks, unchanged chunks hard-linked, exact round trips."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from apexrl.runtime import array_chunks
from apexrl.runtime.checkpoint import CheckpointError, CheckpointWriter, load_checkpoint, save_checkpoint


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(array_chunks, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(array_chunks.chunks, "__defaults__", (1000,))


def _parts(path):
    return sorted(f for f in os.listdir(os.path.join(path, "arrays")) if f.startswith("frames.part-"))


def test_chunks_are_whole_rows_and_assemble_back():
    a = np.arange(10 * 7, dtype=np.int32).reshape(10, 7)  # 28 bytes a row
    pieces = list(array_chunks.chunks("a", a, chunk_bytes=100))  # 3 rows a piece: 4 pieces
    assert [stem for stem, _ in pieces] == [f"a.part-{k:05d}-of-00004" for k in range(4)]
    assert [p.shape[0] for _, p in pieces] == [3, 3, 3, 1]
    np.testing.assert_array_equal(array_chunks.assemble(dict(pieces))["a"], a)
    assert list(array_chunks.chunks("s", np.zeros(3), chunk_bytes=100))[0][0] == "s"  # small: one file
    with pytest.raises(ValueError, match=r"pieces \[2\] of 4 are missing"):
        array_chunks.assemble({k: v for k, v in pieces if not k.endswith("00002-of-00004")})


def test_unchanged_chunks_are_linked_changed_ones_written(tmp_path, small_chunks):
    run = str(tmp_path)
    frames = np.random.default_rng(0).integers(0, 255, size=(100, 50), dtype=np.uint8)  # 5,000 bytes: 5 chunks
    tensors = {"w": torch.ones(2)}
    writer = CheckpointWriter(run, keep=2, max_failures=3)
    first = writer.save(1, tensors, {"frames": frames, "prio": np.ones(4)}, {"n": 1})
    assert len(_parts(first)) == 5
    frames[55] = 7  # a ring buffer that gained one row: only chunk 2 (rows 40-59) changes
    second = writer.save(2, tensors, {"frames": frames, "prio": np.ones(4)}, {"n": 2})
    inode = {f: os.stat(os.path.join(second, "arrays", f)).st_ino for f in _parts(second)}
    old = {f: os.stat(os.path.join(first, "arrays", f)).st_ino for f in _parts(first)}
    changed = [f for f in inode if inode[f] != old[f]]
    assert changed == ["frames.part-00002-of-00005.npy"]  # 4 of 5 chunks are links to the first checkpoint's
    linked = writer.last_stats["bytes_linked"]
    # the unchanged chunks and the unchanged small array (prio) are linked
    assert linked == sum(os.path.getsize(os.path.join(second, "arrays", f))
                         for f in os.listdir(os.path.join(second, "arrays")) if f not in changed)
    assert writer.last_stats["bytes_written"] < linked and writer.last_stats["seconds"] > 0
    assert os.stat(os.path.join(second, "arrays", "frames.part-00000-of-00005.npy")).st_nlink == 2
    loaded = load_checkpoint(second)
    np.testing.assert_array_equal(loaded.arrays["frames"], frames)
    assert loaded.arrays["frames"].dtype == np.uint8 and loaded.arrays["frames"].flags.writeable
    # rotation deletes the first checkpoint's names; the linked files live on in the second
    third = writer.save(3, tensors, {"frames": frames, "prio": np.ones(4)}, {"n": 3})
    assert not os.path.exists(first)
    np.testing.assert_array_equal(load_checkpoint(third).arrays["frames"], frames)
    np.testing.assert_array_equal(load_checkpoint(second).arrays["frames"], frames)


def test_digests_tell_contents_dtypes_and_shapes_apart_and_take_empty_arrays():
    d = array_chunks.content_digest
    a = np.arange(6, dtype=np.int32)
    assert d(a) == d(a.copy()) != d(a.astype(np.int64)) != d(a.reshape(2, 3))
    assert d(np.zeros((0, 3), np.float32)) != d(np.zeros((0, 4), np.float32))  # empty: no buffer to hash
    assert d(np.array([True, False])) != d(np.array([False, True]))
    assert d(a[::2]) == d(np.ascontiguousarray(a[::2]))  # a strided view hashes its values


def test_a_missing_chunk_is_caught_on_load(tmp_path, small_chunks):
    frames = np.arange(3000, dtype=np.uint8).reshape(100, 30)
    path = save_checkpoint(str(tmp_path), 1, {"w": torch.ones(1)}, {"frames": frames}, {})
    second = _parts(path)[1]  # 33 rows of 30 bytes a chunk: 4 chunks
    assert second == "frames.part-00001-of-00004.npy"
    os.remove(os.path.join(path, "arrays", second))
    with pytest.raises(CheckpointError, match="frames.part-00001-of-00004.npy is missing"):
        load_checkpoint(path)
