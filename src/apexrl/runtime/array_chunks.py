"""Incremental checkpoints of big arrays: split into chunks, unchanged chunks hard-linked.

An array larger than :data:`CHUNK_BYTES` is saved as ``arrays/<name>.part-KKKKK-of-NNNNN.npy``
files of whole rows (axis 0). Each file's *content digest* (BLAKE2b-128 of its dtype, shape and
bytes, computed in memory) is recorded in the checkpoint's manifest; the next checkpoint hashes
the same chunk of the live array and, when the digest equals the previous checkpoint's, hard-links
the previous file instead of writing it again. A replay is a ring: between two checkpoints only
the rows written since change, so an Atari replay of 7.2 GB that gained 60K frames is written as
the few chunks they fall in (plus the small arrays), not 7.2 GB. Hard links keep rotation simple:
deleting an old checkpoint directory removes its names, and a file lives while any checkpoint
links it. On a filesystem without hard links the file is copied. Digests are of the live data,
so nothing is trusted that was not hashed this time; the files are verified against their
SHA-256 on load as before.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator

import numpy as np

CHUNK_BYTES = 64 * 2**20
"""Arrays above this size are split into chunks of about this many bytes."""

_PART = re.compile(r"^(?P<name>.+)\.part-(?P<k>\d{5})-of-(?P<n>\d{5})$")


def chunks(name: str, array: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, np.ndarray]]:
    """``(file stem, rows)`` pieces of ``array``: the array itself when it is small (or 0-d), else
    ``name.part-K-of-N`` with ``ceil(nbytes / chunk_bytes)`` pieces of whole rows (views, no copy)."""
    if array.ndim == 0 or array.nbytes <= chunk_bytes or array.shape[0] < 2:
        yield name, array
        return
    row_bytes = max(1, array.nbytes // array.shape[0])
    rows = max(1, chunk_bytes // row_bytes)
    n = -(-array.shape[0] // rows)
    if n > 99_999:
        raise ValueError(f"array {name!r} would need {n} chunks; raise CHUNK_BYTES")
    for k in range(n):
        yield f"{name}.part-{k:05d}-of-{n:05d}", array[k * rows:(k + 1) * rows]


def content_digest(array: np.ndarray) -> str:
    """BLAKE2b-128 hex digest of ``array``'s dtype, shape and bytes (C order)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    data = np.ascontiguousarray(array)
    if data.size:  # no copy: the array's own buffer, as bytes
        h.update(data.reshape(-1).view(np.uint8))
    return h.hexdigest()


def link_or_copy(source: str, target: str) -> bool:
    """Hard-link ``source`` to ``target`` (True), or copy it where links are not possible (False)."""
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copy2(source, target)
        return False


def assemble(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays by name from loaded files by stem: ``name.part-K-of-N`` pieces are concatenated in
    order (all ``N`` must be there); other stems pass through.

    Raises:
        ValueError: pieces of one array missing or of mismatched dtype / row shape.
    """
    out: dict[str, np.ndarray] = {}
    pieces: dict[str, dict[int, np.ndarray]] = {}
    counts: dict[str, int] = {}
    for stem, array in parts.items():
        m = _PART.match(stem)
        if m is None:
            out[stem] = array
            continue
        name, k, n = m["name"], int(m["k"]), int(m["n"])
        pieces.setdefault(name, {})[k] = array
        if counts.setdefault(name, n) != n:
            raise ValueError(f"array {name!r}: pieces disagree on their count ({counts[name]} vs {n})")
    for name, got in pieces.items():
        n = counts[name]
        if sorted(got) != list(range(n)):
            missing = sorted(set(range(n)) - set(got))
            raise ValueError(f"array {name!r}: pieces {missing} of {n} are missing")
        first = got[0]
        if any(p.dtype != first.dtype or p.shape[1:] != first.shape[1:] for p in got.values()):
            raise ValueError(f"array {name!r}: pieces differ in dtype or row shape")
        out[name] = np.concatenate([got[k] for k in range(n)], axis=0)
    return out
