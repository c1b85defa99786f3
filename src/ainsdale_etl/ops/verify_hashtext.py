"""PostgreSQL's ``hashtext()`` in Python, bit for bit, for the lake's side of verify's hashes.

``hashtext`` is ``hash_bytes`` of the text's bytes (src/common/hashfn.c: Bob Jenkins' lookup3,
as PostgreSQL has used it since 8.4, and must keep using: hash indexes and hash partitions
store its values across upgrades). It costs PostgreSQL a tenth of ``md5()``, which is what
lets verify hash 1.5M dim_transaction rows on each side in 0.1 s rather than 1 s; the lake's
side needs it only for each distinct value. Little-endian byte order, as on x86 and ARM servers
(a big-endian server hashes otherwise: verify would then report every text as differing,
never miss one). tests/test_ops_verify_hashes.py compares it with the server's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MASK = 0xFFFFFFFF


def hashtext(text: str) -> int:
    """PostgreSQL's ``hashtext(text)`` (an int4) of a UTF-8 database's ``text``."""
    return int(hashtext_many([text])[0])


def hashtext_many(values: Sequence[str]) -> np.ndarray:
    """:func:`hashtext` of each of ``values`` at once (numpy's uint32 arithmetic wraps as C's
    does): the values of each length are hashed together, as a matrix of their words."""
    encoded = [v.encode() for v in values]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    hashed = np.zeros(len(encoded), dtype=np.uint32)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        width = -(-length // 12) * 12 or 12  # whole blocks of 12 bytes, zero-padded
        matrix = np.zeros((len(rows), width), dtype=np.uint8)
        if length:
            joined = b"".join(encoded[i] for i in rows.tolist())
            matrix[:, :length] = np.frombuffer(joined, dtype=np.uint8).reshape(-1, length)
        words = matrix.view("<u4").astype(np.uint32)  # little-endian, 3 per block
        hashed[rows] = _hash_words(words, length)
    return np.where(hashed >= 2**31, hashed.astype(np.int64) - 2**32, hashed.astype(np.int64))


def _hash_words(words: np.ndarray, length: int) -> np.ndarray:
    def rot(x: np.ndarray, k: int) -> np.ndarray:
        return (x << np.uint32(k)) | (x >> np.uint32(32 - k))

    start = np.uint32((0x9E3779B9 + length + 3923095) & _MASK)
    a, b, c = (np.full(len(words), start, dtype=np.uint32) for _ in range(3))
    with np.errstate(over="ignore"):
        for block in range(length // 12):
            a += words[:, 3 * block]
            b += words[:, 3 * block + 1]
            c += words[:, 3 * block + 2]
            for x, y, z, k in _MIX:  # x -= z; x ^= rot(z, k); z += y
                regs = {"a": a, "b": b, "c": c}
                regs[x] -= regs[z]
                regs[x] ^= rot(regs[z], k)
                regs[z] += regs[y]
        rest, tail = length % 12, 3 * (length // 12)
        if rest > 8:
            c += words[:, tail + 2] << np.uint32(8)
        if rest > 4:
            b += words[:, tail + 1]
        if rest:
            a += words[:, tail]
        for x, y, k in _FINAL:  # x ^= y; x -= rot(y, k)
            regs = {"a": a, "b": b, "c": c}
            regs[x] ^= regs[y]
            regs[x] -= rot(regs[y], k)
    return c


# lookup3's mix and final (hashfn.c), step by step, on the registers a, b, c
_MIX = [("a", "b", "c", 4), ("b", "c", "a", 6), ("c", "a", "b", 8),
        ("a", "b", "c", 16), ("b", "c", "a", 19), ("c", "a", "b", 4)]  # fmt: skip
_FINAL = [("c", "b", 14), ("a", "c", 11), ("b", "a", 25), ("c", "b", 16),
          ("a", "c", 4), ("b", "a", 14), ("c", "b", 24)]  # fmt: skip
