"""Checkpoint directories: round trips, atomicity, retention, corruption, no code execution."""

from __future__ import annotations

import json
import os
import pickle
import re

import numpy as np
import pytest
import torch

from apexrl.config import DQNConfig
from apexrl.envs import env_info
from apexrl.runtime.checkpoint import (CheckpointError, checkpoint_dirs, load_checkpoint, load_latest,
                                       save_checkpoint)
from apexrl.agents.dqn.learner import DQNLearner
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


# ---------------------------------------------------------------- failed writes (issue 23)
def _safetensors_full(*args, **kwargs):
    from safetensors import SafetensorError

    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize("what", ["safetensors", "numpy", "json", "short-tensors", "short-array", "marker"])
def test_every_write_failure_is_a_checkpoint_error_and_leaves_nothing(tmp_path, monkeypatch, what):
    import errno

    import apexrl.runtime.checkpoint as ckpt_module

    first = _save(tmp_path, 1)
    state = {"step": 2}
    if what == "safetensors":  # the serializer's own error type, as on a full disk
        monkeypatch.setattr(ckpt_module, "save_file", _safetensors_full)
        match = "SafetensorError: .*No space left on device"
    elif what == "numpy":
        def numpy_full(file, arr, allow_pickle=True):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(ckpt_module.np, "save", numpy_full)
        match = "OSError: .*No space left on device"
    elif what == "json":  # a state JSON cannot hold
        state = {"step": 2, "bad": object()}
        match = "TypeError: .*not JSON serializable"
    elif what == "short-tensors":  # the writer "succeeded" but the file is cut short
        real = ckpt_module.save_file

        def short_save(tensors, path):
            real(tensors, path)
            os.truncate(path, os.path.getsize(path) - 8)
        monkeypatch.setattr(ckpt_module, "save_file", short_save)
        match = "OSError: short write: .*tensors.safetensors has 88 of 96 bytes"
    elif what == "short-array":
        real_np = np.save

        def short_np(file, arr, allow_pickle=True):
            real_np(file, arr, allow_pickle=allow_pickle)
            os.truncate(file, os.path.getsize(file) - 3)
        monkeypatch.setattr(ckpt_module.np, "save", short_np)
        match = r"OSError: short write: .*\.npy has"
    else:  # the disk fills up after the rename, while writing the COMPLETE marker
        real_write = ckpt_module._write_bytes

        def marker_full(path, data):
            if "COMPLETE" in path:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_write(path, data)
        monkeypatch.setattr(ckpt_module, "_write_bytes", marker_full)
        match = "OSError: .*No space left on device"
    tensors = {"w": torch.full((3, 2), 2.0)}
    with pytest.raises(CheckpointError, match="could not write checkpoint .*ckpt-000000000002: " + match):
        save_checkpoint(str(tmp_path), 2, tensors, {"a": np.arange(10.0)}, state)
    assert os.listdir(tmp_path / "checkpoints") == ["ckpt-000000000001"]  # no temp or unmarked directory
    assert checkpoint_dirs(str(tmp_path)) == [first] and load_latest(str(tmp_path)).state["step"] == 1


def test_failed_resave_of_the_same_step_puts_the_previous_one_back(tmp_path, monkeypatch):
    import errno

    import apexrl.runtime.checkpoint as ckpt_module

    path = _save(tmp_path, 5, value=1.0)
    real_write = ckpt_module._write_bytes

    def marker_full(p, data):
        if "COMPLETE" in p:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(p, data)

    monkeypatch.setattr(ckpt_module, "_write_bytes", marker_full)
    with pytest.raises(CheckpointError, match="No space left on device"):
        _save(tmp_path, 5, value=9.0)
    assert os.listdir(tmp_path / "checkpoints") == ["ckpt-000000000005"]
    assert torch.equal(load_checkpoint(path).tensors["w"], torch.full((3, 2), 1.0))  # the old one, complete


def test_remove_debris_cleans_temp_and_unmarked_and_restores_a_moved_aside_checkpoint(tmp_path):
    from apexrl.runtime.checkpoint import remove_debris

    _save(tmp_path, 3)
    moved = _save(tmp_path, 4)
    root = tmp_path / "checkpoints"
    os.rename(moved, str(root / "ckpt-000000000004.old-4242"))  # crash between the two renames
    os.makedirs(root / "ckpt-000000000004")  # the new one, renamed in but never marked
    (root / "ckpt-000000000004" / "state.json").write_text("{")
    os.makedirs(root / ".tmp-ckpt-000000000007-999" / "arrays")  # a crash while writing
    (root / ".tmp-ckpt-000000000007-999" / "tensors.safetensors").write_bytes(b"partial")
    # before cleaning, loading already finds the moved-aside complete checkpoint
    assert load_latest(str(tmp_path)).path.endswith("ckpt-000000000004.old-4242")
    removed = remove_debris(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == [".tmp-ckpt-000000000007-999", "ckpt-000000000004"]
    assert sorted(os.listdir(root)) == ["ckpt-000000000003", "ckpt-000000000004"]
    assert load_latest(str(tmp_path)).state["step"] == 4
    assert remove_debris(str(tmp_path / "no-run")) == []


def test_checkpoint_writer_goes_on_then_stops_at_the_bound(tmp_path, monkeypatch, caplog):
    import logging

    import apexrl.runtime.checkpoint as ckpt_module
    from apexrl.runtime.checkpoint import CheckpointWriter

    os.makedirs(tmp_path / "checkpoints" / ".tmp-ckpt-000000000001-77")
    with caplog.at_level(logging.WARNING, logger="apexrl"):
        writer = CheckpointWriter(str(tmp_path), keep=3, max_failures=2)  # cleans the leftover
    assert "removed " in caplog.text and ".tmp-ckpt-000000000001-77" in caplog.text
    caplog.clear()
    assert os.listdir(tmp_path / "checkpoints") == [] and writer.last_good is None
    tensors, arrays = {"w": torch.ones(2)}, {"a": np.arange(3)}
    good = writer.save(10, tensors, arrays, {"step": 10})
    real = ckpt_module.save_file
    monkeypatch.setattr(ckpt_module, "save_file", _safetensors_full)
    with caplog.at_level(logging.ERROR, logger="apexrl"):
        assert writer.save(20, tensors, arrays, {"step": 20}) is None  # 1st failure: logged, goes on
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "training goes on" in errors[0]
    assert writer.consecutive == 1 and len(writer.errors) == 1
    monkeypatch.setattr(ckpt_module, "save_file", real)
    assert writer.save(30, tensors, arrays, {"step": 30}) is not None  # a success resets the streak
    good = writer.last_good
    assert writer.consecutive == 0 and len(writer.errors) == 1
    monkeypatch.setattr(ckpt_module, "save_file", _safetensors_full)
    assert writer.save(40, tensors, arrays, {"step": 40}) is None
    with pytest.raises(CheckpointError, match=r"2 checkpoint\(s\) in a row could not be written "
                                              r"\(--max-checkpoint-failures 2\).*last good checkpoint is "
                                              + re.escape(good) + ".*No space left on device"):
        writer.save(50, tensors, arrays, {"step": 50})
    assert len(writer.errors) == 3
    assert load_latest(str(tmp_path)).state["step"] == 30
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["ckpt-000000000010", "ckpt-000000000030"]


def test_final_files_failure_says_what_was_saved(tmp_path, monkeypatch):
    import apexrl.runtime.checkpoint as ckpt_module
    from apexrl.runtime.checkpoint import write_run_files

    ckpt = _save(tmp_path, 12)
    summary = {"checkpoint": ckpt, "learner_steps": 12, "env_frames": 3000, "final_eval_return": 9.5}
    model = {"w": torch.ones(4)}
    write_run_files(str(tmp_path), model, summary, "apex-dqn")
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(tmp_path / "model.safetensors"))["w"], torch.ones(4))
    monkeypatch.setattr(ckpt_module, "save_file", _safetensors_full)
    summary2 = dict(summary, learner_steps=20)
    with pytest.raises(CheckpointError) as info:
        write_run_files(str(tmp_path), {"w": torch.zeros(4)}, summary2, "apex-dqn")
    msg = str(info.value)
    assert "Saved: metrics.csv, summary.json; the newest checkpoint is " + ckpt + " (learner step 12 of 20)" in msg
    assert "Not saved: model.safetensors (SafetensorError: " in msg and "No space left on device" in msg
    assert f"apexrl train apex-dqn --resume {tmp_path}" in msg
    assert json.loads((tmp_path / "summary.json").read_text()) == summary2
    # the earlier model is intact (written to a temporary name, renamed only when whole), no temp files
    assert torch.equal(load_file(str(tmp_path / "model.safetensors"))["w"], torch.ones(4))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    with pytest.raises(CheckpointError, match=r"Saved: metrics.csv, model.safetensors; the newest checkpoint is .*"
                                              r"\(the finished run\)\. Not saved: summary.json \(TypeError"):
        monkeypatch.setattr(ckpt_module, "save_file", __import__("safetensors.torch").torch.save_file)
        write_run_files(str(tmp_path), model, dict(summary, bad=object()), "apex-dqn")
