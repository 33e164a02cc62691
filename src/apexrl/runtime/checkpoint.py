"""Checkpoint directories: written atomically, verified on load, never unpickled.

A checkpoint is ``RUN_DIR/checkpoints/ckpt-<learner_steps>/`` holding

- ``tensors.safetensors``: named tensors (networks, optimizer state, torch RNG state);
- ``state.json``: counters, configuration, optimizer hyperparameters, NumPy RNG states,
  library versions — anything JSON can hold;
- ``arrays/<name>.npy``: NumPy arrays (the replay's contents and priorities), read back with
  ``allow_pickle=False``;
- ``COMPLETE``: written last, a JSON manifest of every other file with its size and SHA-256.

The directory is written under a temporary name (``.tmp-ckpt-...``), every file fsynced,
renamed into place, then ``COMPLETE`` is written and fsynced. Loading ignores directories
without ``COMPLETE``, checks every file against the manifest, and falls back to the next
older complete checkpoint when the newest fails its check. Only the newest ``keep`` complete
checkpoints are kept; older ones are deleted after a new one is complete. The design follows
Reverb's checkpointer (write to a temporary path, rename, mark) and safetensors' "no code
execution on load".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
MARKER = "COMPLETE"
_NAME = re.compile(r"^ckpt-(\d+)$")
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read (missing, incomplete, corrupt or mismatched);
    the message names the directory and the file."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``tensors`` (name -> CPU tensor), ``arrays`` (name -> ndarray),
    ``state`` (the JSON document) and ``path`` (its directory)."""

    path: str
    tensors: dict[str, torch.Tensor]
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        _fsync_file(path)
    except OSError:  # some filesystems do not allow fsync on directories
        pass


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_dirs(run_dir: str) -> list[str]:
    """Complete checkpoint directories of a run, newest (most learner steps) first."""
    root = os.path.join(run_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _NAME.match(name)
        path = os.path.join(root, name)
        if m and os.path.isfile(os.path.join(path, MARKER)):
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found, reverse=True)]


def save_checkpoint(run_dir: str, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
                    state: dict[str, Any], keep: int = 3) -> str:
    """Write a checkpoint for learner step ``step`` atomically; returns its directory.

    Args:
        run_dir: the run directory (the checkpoint goes to ``run_dir/checkpoints/ckpt-<step>``).
        step: learner steps so far (orders checkpoints; an existing one of the same step is
            replaced only after the new one is complete).
        tensors: name -> tensor (any dtype safetensors supports); saved contiguous on the CPU.
        arrays: name -> NumPy array (numeric dtypes only; names of letters, digits, ``._-``).
        state: a JSON-serialisable document.
        keep: complete checkpoints to keep (``>= 1``); older ones are deleted afterwards.

    Raises:
        ValueError: ``keep < 1``, an array name that is not a plain file name, an object array,
            or a non-finite floating-point tensor (NaN parameters are never saved).
        CheckpointError: the files could not be written (the previous checkpoints are untouched).
    """
    if keep < 1:
        raise ValueError(f"invalid keep_checkpoints={keep!r} (--keep-checkpoints): must be >= 1")
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"tensor {name!r} has NaN or infinite values; refusing to save a checkpoint")
    for name, a in arrays.items():
        if not _ARRAY_NAME.match(name) or a.dtype.hasobject:
            raise ValueError(f"array {name!r}: names must be plain file names and dtypes numeric")
    root = os.path.join(run_dir, CHECKPOINTS)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"ckpt-{step:012d}")
    tmp = os.path.join(root, f".tmp-ckpt-{step:012d}-{os.getpid()}")
    try:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        os.makedirs(os.path.join(tmp, "arrays"))
        files = []
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                  os.path.join(tmp, "tensors.safetensors"))
        files.append("tensors.safetensors")
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f)
        files.append("state.json")
        for name, a in arrays.items():
            rel = os.path.join("arrays", f"{name}.npy")
            np.save(os.path.join(tmp, rel), np.ascontiguousarray(a), allow_pickle=False)
            files.append(rel)
        manifest = {}
        for rel in files:
            path = os.path.join(tmp, rel)
            _fsync_file(path)
            manifest[rel] = {"bytes": os.path.getsize(path), "sha256": _sha256(path)}
        _fsync_dir(os.path.join(tmp, "arrays"))
        _fsync_dir(tmp)
        old = None
        if os.path.exists(final):  # same step saved twice (e.g. SIGTERM right after a save)
            old = final + f".old-{os.getpid()}"
            os.rename(final, old)
        os.rename(tmp, final)
        _fsync_dir(root)
        marker = os.path.join(final, MARKER)
        with open(marker + ".tmp", "w") as f:
            json.dump({"step": step, "files": manifest}, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(marker + ".tmp", marker)
        _fsync_dir(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"could not write checkpoint {final}: {exc}") from exc
    for path in checkpoint_dirs(run_dir)[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    for name in os.listdir(root):  # debris of interrupted saves: temporary or unmarked directories
        path = os.path.join(root, name)
        if name.startswith(".tmp-ckpt-") or (_NAME.match(name) and not os.path.isfile(os.path.join(path, MARKER))):
            shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(path: str) -> Checkpoint:
    """Read and verify one checkpoint directory.

    Every file listed in ``COMPLETE`` must exist with the recorded size and SHA-256; tensors are
    read with safetensors and arrays with ``numpy.load(allow_pickle=False)``, so nothing in the
    directory can execute code.

    Raises:
        CheckpointError: no ``COMPLETE`` marker, a missing, truncated or altered file, an
            unreadable file, or a pickled array; the message names the file.
    """
    marker = os.path.join(path, MARKER)
    if not os.path.isfile(marker):
        raise CheckpointError(f"{path} is not a complete checkpoint (no {MARKER} file)")
    try:
        with open(marker) as f:
            manifest = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{marker} is unreadable: {exc}") from exc
    for rel, entry in manifest.items():
        file = os.path.join(path, rel)
        if not os.path.isfile(file):
            raise CheckpointError(f"checkpoint file {file} is missing")
        if os.path.getsize(file) != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise CheckpointError(f"checkpoint file {file} does not match its recorded size and SHA-256 "
                                  "(truncated or altered)")
    try:
        tensors = load_file(os.path.join(path, "tensors.safetensors"))
        with open(os.path.join(path, "state.json")) as f:
            state = json.load(f)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {path} is unreadable: {type(exc).__name__}: {exc}") from exc
    arrays = {}
    for rel in manifest:
        if rel.startswith("arrays" + os.sep) and rel.endswith(".npy"):
            try:
                arrays[os.path.basename(rel)[:-4]] = np.load(os.path.join(path, rel), allow_pickle=False)
            except ValueError as exc:  # an object array needs pickle: refused, never executed
                raise CheckpointError(f"checkpoint file {os.path.join(path, rel)} is not a plain array: {exc}") \
                    from exc
    return Checkpoint(path=path, tensors=tensors, arrays=arrays, state=state)


def load_latest(run_dir: str) -> Checkpoint:
    """The newest complete checkpoint of a run that passes its checks (older ones are tried when a
    newer one is corrupt, with a warning naming it).

    Raises:
        CheckpointError: the run has no complete checkpoint, or none passes its checks.
    """
    paths = checkpoint_dirs(run_dir)
    if not paths:
        raise CheckpointError(f"no complete checkpoint in {os.path.join(run_dir, CHECKPOINTS)}")
    errors = []
    for path in paths:
        try:
            return load_checkpoint(path)
        except CheckpointError as exc:
            warnings.warn(f"skipping checkpoint: {exc}", RuntimeWarning, stacklevel=2)
            errors.append(str(exc))
    raise CheckpointError("no usable checkpoint: " + "; ".join(errors))
