"""Checkpoint directories: round trips, atomicity, retention, corruption, no code execution."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from apexrl.config import DQNConfig
from apexrl.envs import env_info
from apexrl.runtime.checkpoint import (CheckpointError, checkpoint_dirs, load_checkpoint, load_latest,
                                       save_checkpoint)
from apexrl.runtime.learner import DQNLearner
from apexrl.types import SampledBatch, Transitions


def _save(run_dir, step, value=1.0, keep=3):
    tensors = {"w": torch.full((3, 2), value), "rng": torch.arange(5, dtype=torch.uint8)}
    arrays = {"storage.obs": np.arange(12, dtype=np.float32).reshape(6, 2) * value, "leaves": np.ones(6)}
    return save_checkpoint(str(run_dir), step, tensors, arrays, {"step": step, "nested": {"a": [1, 2]}}, keep=keep)


def test_round_trip_and_layout(tmp_path):
    path = _save(tmp_path, 7, value=2.0)
    assert os.path.basename(path) == "ckpt-000000000007"
    assert sorted(os.listdir(path)) == ["COMPLETE", "arrays", "state.json", "tensors.safetensors"]
    ckpt = load_checkpoint(path)
    assert ckpt.state == {"step": 7, "nested": {"a": [1, 2]}}
    assert torch.equal(ckpt.tensors["w"], torch.full((3, 2), 2.0))
    assert torch.equal(ckpt.tensors["rng"], torch.arange(5, dtype=torch.uint8))
    np.testing.assert_array_equal(ckpt.arrays["storage.obs"], np.arange(12, dtype=np.float32).reshape(6, 2) * 2)
    assert ckpt.arrays["leaves"].dtype == np.float64


def test_keeps_newest_k_and_ignores_incomplete(tmp_path):
    for step in (10, 20, 30, 40):
        _save(tmp_path, step, keep=2)
    assert [os.path.basename(p) for p in checkpoint_dirs(str(tmp_path))] == ["ckpt-000000000040",
                                                                             "ckpt-000000000030"]
    newest = checkpoint_dirs(str(tmp_path))[0]
    # a newer directory without its COMPLETE marker (a save killed before the end) is ignored
    os.makedirs(tmp_path / "checkpoints" / "ckpt-000000000050")
    os.makedirs(tmp_path / "checkpoints" / ".tmp-ckpt-000000000060-1")
    assert load_latest(str(tmp_path)).path == newest
    _save(tmp_path, 45, keep=2)  # a later save removes the debris of interrupted saves
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["ckpt-000000000040", "ckpt-000000000045"]


def test_same_step_saved_twice_replaces(tmp_path):
    _save(tmp_path, 5, value=1.0)
    _save(tmp_path, 5, value=3.0)
    assert len(checkpoint_dirs(str(tmp_path))) == 1
    assert float(load_latest(str(tmp_path)).tensors["w"][0, 0]) == 3.0


def test_corrupt_newest_falls_back_to_older(tmp_path):
    _save(tmp_path, 1, value=1.0)
    newest = _save(tmp_path, 2, value=2.0)
    target = os.path.join(newest, "arrays", "storage.obs.npy")
    data = bytearray(open(target, "rb").read())
    data[-1] ^= 0xFF
    open(target, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="storage.obs.npy"):
        load_checkpoint(newest)
    with pytest.warns(RuntimeWarning, match="ckpt-000000000002"):
        ckpt = load_latest(str(tmp_path))
    assert ckpt.state["step"] == 1
    os.remove(os.path.join(ckpt.path, "state.json"))  # now none is usable
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_latest(str(tmp_path))


def test_no_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_latest(str(tmp_path))


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rewrite_manifest(path):
    import hashlib

    marker = os.path.join(path, "COMPLETE")
    manifest = json.load(open(marker))
    for rel, entry in manifest["files"].items():
        data = open(os.path.join(path, rel), "rb").read()
        entry["bytes"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    json.dump(manifest, open(marker, "w"))


def test_crafted_pickles_are_never_executed(tmp_path):
    proof = tmp_path / "code-ran"
    path = _save(tmp_path / "run", 3)
    # an object array whose element runs code when unpickled, written as a valid .npy file
    bomb = np.empty(1, dtype=object)
    bomb[0] = _Exploit(str(proof))
    np.save(os.path.join(path, "arrays", "storage.obs.npy"), bomb, allow_pickle=True)
    _rewrite_manifest(path)  # the attacker also fixes the checksums
    with pytest.raises(CheckpointError, match="not a plain array"):
        load_checkpoint(path)
    assert not proof.exists()
    # a plain pickle in place of the tensors file
    path = _save(tmp_path / "run2", 3)
    with open(os.path.join(path, "tensors.safetensors"), "wb") as f:
        pickle.dump(_Exploit(str(proof)), f)
    _rewrite_manifest(path)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)
    assert not proof.exists()


def test_nan_tensors_are_never_saved(tmp_path):
    _save(tmp_path, 1)
    with pytest.raises(ValueError, match="NaN"):
        save_checkpoint(str(tmp_path), 2, {"w": torch.tensor([1.0, float("nan")])}, {}, {})
    assert [os.path.basename(p) for p in checkpoint_dirs(str(tmp_path))] == ["ckpt-000000000001"]
    with pytest.raises(ValueError, match="keep"):
        save_checkpoint(str(tmp_path), 3, {}, {}, {}, keep=0)


def _batch(rng, n=16):
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    data = Transitions(obs=obs, action=rng.integers(0, 2, n), reward=rng.normal(size=n).astype(np.float32),
                       discount=np.full(n, 0.97, np.float32), next_obs=obs + 0.1)
    return SampledBatch(keys=np.arange(n), data=data, weights=np.ones(n, np.float32))


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_learner_state_round_trip_continues_identically(tmp_path, optimizer):
    info = env_info("CartPole-v1")
    config = DQNConfig(hidden_sizes=(16,), optimizer=optimizer, target_update_period=3)
    a = DQNLearner(config, info, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a.update(_batch(rng))
    tensors, meta = a.state_dict()
    path = save_checkpoint(str(tmp_path), a.steps, tensors, {}, {"learner": meta})
    ckpt = load_checkpoint(path)
    b = DQNLearner(config, info, seed=99)
    b.load_state_dict(ckpt.tensors, ckpt.state["learner"])
    assert b.steps == a.steps == 5
    batches = [_batch(rng) for _ in range(4)]  # steps 6..9 include a target copy at step 6 and 9
    for batch in batches:
        pa, _ = a.update(batch)
        pb, _ = b.update(batch)
        np.testing.assert_array_equal(pa, pb)
    for (name, x), y in zip(a.online.state_dict().items(), b.online.state_dict().values()):
        assert torch.equal(x, y), name
    for x, y in zip(a.target.state_dict().values(), b.target.state_dict().values()):
        assert torch.equal(x, y)


def test_learner_state_of_another_network_is_refused():
    info = env_info("CartPole-v1")
    a = DQNLearner(DQNConfig(hidden_sizes=(16,)), info)
    tensors, meta = a.state_dict()
    with pytest.raises(ValueError, match="does not fit"):
        DQNLearner(DQNConfig(hidden_sizes=(32,)), info).load_state_dict(tensors, meta)
    with pytest.raises(ValueError, match="--optimizer"):
        DQNLearner(DQNConfig(hidden_sizes=(16,), optimizer="rmsprop"), info).load_state_dict(tensors, meta)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = _save(tmp_path, 4)
    target = os.path.join(path, "tensors.safetensors")
    with open(target, "r+b") as f:
        f.truncate(os.path.getsize(target) // 2)
    with pytest.raises(CheckpointError, match="tensors.safetensors .*truncated or altered"):
        load_checkpoint(path)


def test_disk_full_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    import errno

    import apexrl.runtime.checkpoint as ckpt_module

    first = _save(tmp_path, 1)
    real_save = np.save

    def full_disk(file, arr, allow_pickle=True):
        with open(file, "wb") as f:
            f.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_module.np, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device"):
        _save(tmp_path, 2)
    monkeypatch.setattr(ckpt_module.np, "save", real_save)
    assert checkpoint_dirs(str(tmp_path)) == [first]
    assert os.listdir(tmp_path / "checkpoints") == ["ckpt-000000000001"]  # the partial one was removed
    assert load_latest(str(tmp_path)).state["step"] == 1


KILL_SCRIPT = """
import os, signal, sys
import numpy as np, torch
import apexrl.runtime.checkpoint as c
run_dir, where = sys.argv[1], sys.argv[2]
def save(step):
    c.save_checkpoint(run_dir, step, {"w": torch.full((4,), float(step))}, {"a": np.arange(1000) * step},
                      {"step": step})
save(1)
if where == "array":  # killed while writing an array file
    real = np.save
    def dying_save(file, arr, allow_pickle=True):
        with open(file, "wb") as f:
            f.write(b"\\x93NUMPY")
        os.kill(os.getpid(), signal.SIGKILL)
    c.np.save = dying_save
else:  # killed after the rename, before the COMPLETE marker is in place
    real_rename = os.rename
    def dying_rename(src, dst):
        if src.endswith("COMPLETE.tmp"):
            os.kill(os.getpid(), signal.SIGKILL)
        real_rename(src, dst)
    c.os.rename = dying_rename
save(2)
"""


@pytest.mark.parametrize("where", ["array", "marker"])
def test_process_killed_while_writing_a_checkpoint(tmp_path, where):
    import signal
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path), where], capture_output=True)
    assert res.returncode == -signal.SIGKILL, res.stderr
    leftovers = sorted(os.listdir(tmp_path / "checkpoints"))
    assert len(leftovers) == 2  # the complete one and the debris of the killed save
    ckpt = load_latest(str(tmp_path))
    assert ckpt.state["step"] == 1 and float(ckpt.tensors["w"][0]) == 1.0
    _save(tmp_path, 3)  # the next save works and clears the debris
    assert load_latest(str(tmp_path)).state["step"] == 3
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["ckpt-000000000001", "ckpt-000000000003"]
