"""Checkpoint directories: written atomically, verified on load, never unpickled.

A checkpoint is ``RUN_DIR/checkpoints/ckpt-<learner_steps>/`` holding

- ``tensors.safetensors``: named tensors (networks, optimizer state, torch RNG state);
- ``state.json``: counters, configuration, optimizer hyperparameters, NumPy RNG states,
  library versions — anything JSON can hold;
- ``arrays/<name>.npy``: NumPy arrays (the replay's contents and priorities), read back with
  ``allow_pickle=False``; an array above 64 MiB is split into ``<name>.part-K-of-N.npy`` chunks,
  and a chunk whose content did not change since the previous checkpoint is hard-linked from it
  instead of written again (:mod:`apexrl.runtime.array_chunks`: incremental replay checkpoints);
- ``COMPLETE``: written last, a JSON manifest of every other file with its size and SHA-256.

The directory is written under a temporary name (``.tmp-ckpt-...``), every file fsynced,
renamed into place, then ``COMPLETE`` is written and fsynced. Loading ignores directories
without ``COMPLETE``, checks every file against the manifest, and falls back to the next
older complete checkpoint when the newest fails its check. Only the newest ``keep`` complete
checkpoints are kept; older ones are deleted after a new one is complete. The design follows
Reverb's checkpointer (write to a temporary path, rename, mark) and safetensors' "no code
execution on load".

Every failure to write (``OSError``, safetensors' ``SafetensorError``, NumPy's and JSON's
errors, a file shorter than what was written) raises :class:`CheckpointError` after the
temporary directory is removed; :class:`CheckpointWriter` logs and counts such failures and
stops the run after ``--max-checkpoint-failures`` in a row. :func:`remove_debris` clears what a
crash left behind, at every start and resume; :func:`write_run_files` writes a finished run's
``model.safetensors`` and ``summary.json`` the same careful way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from apexrl.runtime import array_chunks

log = logging.getLogger("apexrl")

CHECKPOINTS = "checkpoints"
MARKER = "COMPLETE"
_NAME = re.compile(r"^ckpt-(\d+)$")
_OLD = re.compile(r"^(ckpt-\d+)\.old-\d+$")
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


def _write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to a new file and fsync it; a short write raises ``OSError``."""
    with open(path, "wb") as f:
        written = f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if written != len(data) or os.path.getsize(path) != len(data):
        raise OSError(f"short write: {path} has {os.path.getsize(path)} of {len(data)} bytes")


def _check_safetensors(path: str, data_bytes: int) -> None:
    """Raise ``OSError`` unless ``path`` is as long as its header says (8 + header + data bytes)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
    expected = 8 + int.from_bytes(head, "little") + data_bytes if len(head) == 8 else 8 + data_bytes
    if size != expected:
        raise OSError(f"short write: {path} has {size} of {expected} bytes")


def _check_npy(path: str, data_bytes: int) -> None:
    """Raise ``OSError`` unless ``path`` is a whole ``.npy`` file: a readable header, then
    ``data_bytes`` bytes."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            fmt = np.lib.format
            version = fmt.read_magic(f)
            (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(f)
            expected = f.tell() + data_bytes
    except ValueError as exc:
        raise OSError(f"short write: {path} has no complete .npy header ({size} bytes): {exc}") from exc
    if size != expected:
        raise OSError(f"short write: {path} has {size} of {expected} bytes")


def checkpoint_dirs(run_dir: str) -> list[str]:
    """Complete checkpoint directories of a run, newest (most learner steps) first (a complete
    ``ckpt-<step>.old-<pid>`` stands in for its step when a crash left ``ckpt-<step>`` unmarked)."""
    root = os.path.join(run_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found: dict[int, str] = {}
    for name in sorted(os.listdir(root)):
        m = _NAME.match(name) or _OLD.match(name)
        path = os.path.join(root, name)
        if m and os.path.isfile(os.path.join(path, MARKER)):
            step = int(m.group(1).removeprefix("ckpt-"))
            if step not in found or _NAME.match(name):
                found[step] = path
    return [found[s] for s in sorted(found, reverse=True)]


def save_checkpoint(run_dir: str, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
                    state: dict[str, Any], keep: int = 3, previous: str | None = None,
                    stats: dict[str, float] | None = None) -> str:
    """Write a checkpoint for learner step ``step`` atomically; returns its directory.

    Args:
        run_dir: the run directory (the checkpoint goes to ``run_dir/checkpoints/ckpt-<step>``).
        step: learner steps so far (orders checkpoints; an existing one of the same step is
            replaced only after the new one is complete).
        tensors: name -> tensor (any dtype safetensors supports); saved contiguous on the CPU.
        arrays: name -> NumPy array (numeric dtypes only; names of letters, digits, ``._-``).
        state: a JSON-serialisable document.
        keep: complete checkpoints to keep (``>= 1``); older ones are deleted afterwards.
        previous: a complete checkpoint directory (the newest); array chunks whose content digest
            equals the one it recorded are hard-linked from it instead of written
            (:mod:`apexrl.runtime.array_chunks`). ``None``: every file is written.
        stats: if given, filled with ``bytes_written`` and ``bytes_linked`` (files of this
            checkpoint written now / hard-linked from ``previous``).

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
    final = os.path.join(root, f"ckpt-{step:012d}")
    tmp = os.path.join(root, f".tmp-ckpt-{step:012d}-{os.getpid()}")
    stage: str | None = tmp  # the directory to remove if the save fails
    old = None
    try:
        os.makedirs(root, exist_ok=True)
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        os.makedirs(os.path.join(tmp, "arrays"))
        files = []
        cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        save_file(cpu, os.path.join(tmp, "tensors.safetensors"))
        _check_safetensors(os.path.join(tmp, "tensors.safetensors"), sum(t.numel() * t.element_size()
                                                                         for t in cpu.values()))
        files.append("tensors.safetensors")
        _write_bytes(os.path.join(tmp, "state.json"), json.dumps(state).encode())
        files.append("state.json")
        before = _previous_manifest(previous)
        manifest: dict[str, dict[str, Any]] = {}
        for name, whole in arrays.items():
            for stem, a in array_chunks.chunks(name, whole):
                rel = os.path.join("arrays", f"{stem}.npy")
                digest = array_chunks.content_digest(a)
                old_entry = before.get(rel)
                if old_entry is not None and old_entry.get("content") == digest:  # unchanged: link it
                    array_chunks.link_or_copy(os.path.join(str(previous), rel), os.path.join(tmp, rel))
                    manifest[rel] = dict(old_entry)
                    continue
                np.save(os.path.join(tmp, rel), np.ascontiguousarray(a), allow_pickle=False)
                _check_npy(os.path.join(tmp, rel), a.nbytes)
                files.append(rel)
                manifest[rel] = {"content": digest}
        for rel in files:
            path = os.path.join(tmp, rel)
            _fsync_file(path)
            manifest.setdefault(rel, {}).update(bytes=os.path.getsize(path), sha256=_sha256(path))
        _fsync_dir(os.path.join(tmp, "arrays"))
        _fsync_dir(tmp)
        if stats is not None:
            written = sum(manifest[rel]["bytes"] for rel in files)
            stats.update(bytes_written=float(written),
                         bytes_linked=float(sum(e["bytes"] for e in manifest.values()) - written))
        if os.path.exists(final):  # same step saved twice (e.g. SIGTERM right after a save)
            old = final + f".old-{os.getpid()}"
            os.rename(final, old)
        os.rename(tmp, final)
        stage = final  # renamed but not yet marked complete
        _fsync_dir(root)
        marker = os.path.join(final, MARKER)
        _write_bytes(marker + ".tmp", json.dumps({"step": step, "files": manifest}).encode())
        os.rename(marker + ".tmp", marker)
        stage = None
        _fsync_dir(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:  # OSError, safetensors' SafetensorError, NumPy's and JSON's errors, short writes
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
            if old is not None and not os.path.exists(final):
                try:  # the complete checkpoint of the same step goes back in place
                    os.rename(old, final)
                except OSError:
                    pass  # found by checkpoint_dirs under its .old name; remove_debris restores it
        raise CheckpointError(f"could not write checkpoint {final}: {type(exc).__name__}: {exc}") from exc
    for path in checkpoint_dirs(run_dir)[keep:]:
        shutil.rmtree(path, ignore_errors=True)
    remove_debris(run_dir)
    return final


def remove_debris(run_dir: str) -> list[str]:
    """Remove what interrupted saves left in ``run_dir/checkpoints``: temporary directories
    (``.tmp-ckpt-*``) and unmarked ``ckpt-*`` directories. A complete checkpoint moved aside while
    the same step was saved again (``ckpt-<step>.old-<pid>``) goes back in place when the new one
    never became complete, and is removed otherwise. Called at every start and resume, and after
    every successful save. Returns the removed paths (nothing is raised: what cannot be removed
    stays, and loading ignores it)."""
    root = os.path.join(run_dir, CHECKPOINTS)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(root, name)
        m = _OLD.match(name)
        if m:
            final = os.path.join(root, m.group(1))
            if not os.path.isfile(os.path.join(path, MARKER)) or os.path.isfile(os.path.join(final, MARKER)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
                continue
            shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(path, final)
            except OSError:
                pass
        elif name.startswith(".tmp-ckpt-") or (_NAME.match(name) and not os.path.isfile(os.path.join(path, MARKER))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


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
    parts = {}
    for rel in manifest:
        if rel.startswith("arrays" + os.sep) and rel.endswith(".npy"):
            try:
                parts[os.path.basename(rel)[:-4]] = np.load(os.path.join(path, rel), allow_pickle=False,
                                                            mmap_mode="r")
            except ValueError as exc:  # an object array needs pickle: refused, never executed
                raise CheckpointError(f"checkpoint file {os.path.join(path, rel)} is not a plain array: {exc}") \
                    from exc
    try:  # chunks are concatenated into memory; whole arrays are read into memory from their map
        arrays = {k: np.array(v) for k, v in array_chunks.assemble(parts).items()}
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from exc
    return Checkpoint(path=path, tensors=tensors, arrays=arrays, state=state)


def _previous_manifest(previous: str | None) -> dict[str, dict[str, Any]]:
    """The file entries of a complete checkpoint's ``COMPLETE`` manifest, or ``{}`` (none given,
    unreadable, or without content digests)."""
    if previous is None:
        return {}
    try:
        with open(os.path.join(previous, MARKER)) as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {rel: entry for rel, entry in files.items() if isinstance(entry, dict) and "content" in entry}


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


class CheckpointWriter:
    """Writes a run's checkpoints and survives failed writes, up to a bound.

    A failed write (:class:`CheckpointError`: disk full, an I/O error, a short write) is logged
    once, counted, and training goes on: the previous checkpoints are untouched. After
    ``max_failures`` failures in a row the run stops, keeping the last good checkpoint, instead of
    losing its progress silently.

    Args:
        run_dir: the run directory; debris of interrupted saves is removed here
            (:func:`remove_debris`) when the writer is created, i.e. at every start and resume.
        keep: complete checkpoints to keep (``--keep-checkpoints``).
        max_failures: failed saves in a row that stop the run (``--max-checkpoint-failures``).

    Attributes:
        errors: the message of every failed save of this session, in order.
        consecutive: failed saves since the last successful one.
        last_good: the newest complete checkpoint of the run, or ``None``.
        last_stats: of the last successful save: ``seconds``, ``bytes_written``, ``bytes_linked``
            (empty before one).
    """

    def __init__(self, run_dir: str, keep: int, max_failures: int) -> None:
        self.run_dir, self.keep, self.max_failures = run_dir, keep, max_failures
        self.errors: list[str] = []
        self.consecutive = 0
        for path in remove_debris(run_dir):
            log.warning("removed %s, left by an interrupted checkpoint save", path)
        found = checkpoint_dirs(run_dir)
        self.last_good: str | None = found[0] if found else None
        self.last_stats: dict[str, float] = {}

    def save(self, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
             state: dict[str, Any]) -> str | None:
        """:func:`save_checkpoint`; returns the new directory, or ``None`` when the write failed.

        Raises:
            ValueError: as :func:`save_checkpoint` (NaN tensors, bad array names).
            CheckpointError: the ``max_failures``-th failed save in a row; the message names the
                flag, the last good checkpoint and the last error.
        """
        stats: dict[str, float] = {}
        start = time.monotonic()
        try:
            path = save_checkpoint(self.run_dir, step, tensors, arrays, state, keep=self.keep, previous=self.last_good,
                                   stats=stats)
        except CheckpointError as exc:
            self.errors.append(str(exc))
            self.consecutive += 1
            if self.consecutive >= self.max_failures:
                raise CheckpointError(
                    f"{self.consecutive} checkpoint(s) in a row could not be written (--max-checkpoint-failures "
                    f"{self.max_failures}), so the run stops instead of training on without a checkpoint; the "
                    f"last good checkpoint is {self.last_good or 'none'}; last error: {exc}") from exc
            log.error("%s; training goes on, the previous checkpoints are intact (failure %d in a row; the run "
                      "stops at %d, --max-checkpoint-failures)", exc, self.consecutive, self.max_failures)
            return None
        self.consecutive = 0
        self.last_good = path
        self.last_stats = {"seconds": time.monotonic() - start, **stats}
        log.info("checkpoint %s: %.1f s, %.1f MB written, %.1f MB linked from the previous one", path,
                 self.last_stats["seconds"], stats.get("bytes_written", 0) / 1e6, stats.get("bytes_linked", 0) / 1e6)
        return path


def _replace_atomically(path: str, write: Any) -> None:
    """``write(tmp)`` to a temporary name next to ``path``, fsync, rename over ``path``; the
    temporary file is removed when anything fails. Raises ``OSError`` or the writer's error."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.path.basename(path)}-{os.getpid()}")
    try:
        write(tmp)
        _fsync_file(tmp)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(os.path.dirname(path) or ".")


def write_run_files(run_dir: str, model: dict[str, torch.Tensor] | None, summary: dict[str, Any],
                    algo: str) -> None:
    """Write the end of a run: ``model.safetensors`` (the final online network; skipped when
    ``model`` is ``None``, i.e. non-finite parameters) and ``summary.json``, each under a
    temporary name, checked for a short write, then renamed into place. Both are attempted even
    when the first fails.

    Raises:
        CheckpointError: a file could not be written; the message says what was saved (including
            the newest checkpoint, ``summary["checkpoint"]``) and what was not, with the error, and
            how to write them again.
    """
    saved, failed = ["metrics.csv"], []
    if model is not None:
        def write_model(tmp: str) -> None:
            tensors = {k: v.detach().cpu().contiguous() for k, v in model.items()}
            save_file(tensors, tmp)
            _check_safetensors(tmp, sum(t.numel() * t.element_size() for t in tensors.values()))

        try:
            _replace_atomically(os.path.join(run_dir, "model.safetensors"), write_model)
            saved.append("model.safetensors")
        except Exception as exc:  # OSError, SafetensorError, short write
            failed.append(f"model.safetensors ({type(exc).__name__}: {exc})")
    try:
        data = json.dumps(summary, indent=2).encode()
        _replace_atomically(os.path.join(run_dir, "summary.json"), lambda tmp: _write_bytes(tmp, data))
        saved.append("summary.json")
    except Exception as exc:  # OSError, a summary JSON cannot hold, short write
        failed.append(f"summary.json ({type(exc).__name__}: {exc})")
    if not failed:
        return
    ckpt, steps = summary.get("checkpoint"), summary.get("learner_steps")
    if ckpt is None:
        where = "no checkpoint was written"
    else:
        m = _NAME.match(os.path.basename(ckpt))
        at = int(m.group(1)) if m else None
        where = f"the newest checkpoint is {ckpt}" + (" (the finished run)" if at == steps else
                                                       f" (learner step {at} of {steps})")
    raise CheckpointError(
        f"training finished (env_frames={summary.get('env_frames')}, final_eval_return="
        f"{summary.get('final_eval_return')}) but not every final file could be written. Saved: "
        f"{', '.join(saved)}; {where}. Not saved: {'; '.join(failed)}. Free space, then "
        f"`apexrl train {algo} --resume {run_dir}` continues from the newest checkpoint and writes them again")
