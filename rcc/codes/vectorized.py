"""The one-index messages of a whole batch, written and read with integer arithmetic on arrays.

Elias gamma and delta and fixed-length messages (:mod:`rcc.codes.prefix`) of up to 64 bits are
written by uint64 arithmetic that reproduces :class:`rcc.codes.BitWriter` bit for bit, and read
back the same way when they are at most 8 bytes long; other codes, longer messages and anything
malformed go through the code itself, item by item. Exact: the messages and indices are the
per-item calls' (the tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rcc.codes.base import IndexCode, bit_length
from rcc.codes.prefix import EliasDeltaCode, EliasGammaCode, FixedLengthCode
from rcc.core import Message

__all__ = ["first_indices", "messages_for"]

_U64 = np.uint64


def _shift(v: np.ndarray, by: np.ndarray, left: bool) -> np.ndarray:
    """``v << by`` or ``v >> by`` per element, 0 where ``by >= 64`` (numpy leaves that undefined)."""
    safe = np.minimum(by, 63).astype(np.uint64)
    out = (v << safe) if left else (v >> safe)
    return np.where(by >= 64, _U64(0), out)


def _code_words(code: IndexCode, index: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(value, length in bits) of each single-index message of an Elias or fixed-length code, as
    its BitWriter writes it; None for other codes and for messages longer than 64 bits."""
    k = index.astype(np.uint64)
    if isinstance(code, FixedLengthCode):
        values, lengths = k, np.full(k.size, code.width, dtype=np.int64)
    elif isinstance(code, (EliasGammaCode, EliasDeltaCode)):
        n = k + _U64(1)
        width = bit_length(n)
        if isinstance(code, EliasGammaCode):
            values, lengths = n, 2 * width - 1
        else:  # gamma code of the width, then the bits of n below its leading one
            low = n - _shift(_U64(1), width - 1, left=True)
            values = _shift(width.astype(np.uint64), width - 1, left=True) | low
            lengths = 2 * bit_length(width.astype(np.uint64)) - 1 + width - 1
    else:
        return None
    return (values, lengths) if np.all(lengths <= 64) else None


def messages_for(code: IndexCode, index: np.ndarray) -> tuple[list[Message], np.ndarray]:
    """Messages of single indices and each message's ideal length (the code's ``ideal_bits``)."""
    words = _code_words(code, index) if np.all(index < 1 << 62) else None
    if words is None:
        return ([Message(code.encode([int(k)])) for k in index],
                np.array([code.ideal_bits(int(k)) for k in index], dtype=np.float64))
    values, lengths = words
    raw = _shift(values, 64 - lengths, left=True).astype(">u8").tobytes()
    ends = (8 * np.arange(index.size) + (lengths + 7) // 8).tolist()
    ideal = (np.full(index.size, math.log2(code.n)) if isinstance(code, FixedLengthCode)
             else lengths.astype(np.float64))
    starts = range(0, 8 * index.size, 8)
    return [Message(raw[b:e]) for b, e in zip(starts, ends, strict=True)], ideal


def first_indices(code: IndexCode, messages: Sequence[Message]) -> np.ndarray:
    """The first index of each message: vectorized for Elias and fixed-length messages of at
    most 8 bytes (what their BitReader reads), the code itself for the rest and for anything
    malformed, so errors are the code's own."""
    data = [m.data for m in messages]
    index = np.full(len(data), -1, dtype=np.int64)
    size = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
    short = size <= 8
    if isinstance(code, (FixedLengthCode, EliasGammaCode, EliasDeltaCode)) and short.any():
        sel = np.flatnonzero(short)
        words = (b"".join(d.ljust(8, b"\0") for d in data) if sel.size == len(data)
                 else b"".join(data[i].ljust(8, b"\0") for i in sel.tolist()))
        v = np.frombuffer(words, dtype=">u8").astype(np.uint64)
        k, ok = _parse_words(code, v, 8 * size[sel])
        index[sel[ok]] = k[ok]
    for i in np.flatnonzero(index < 0):
        index[i] = code.decode(data[i], 1)[0]
    return index


def _parse_words(code: IndexCode, v: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices read from messages left-aligned in uint64 words ``v`` holding ``bits`` bits, and
    which of them are well formed."""
    if isinstance(code, FixedLengthCode):
        k = _shift(v, np.full(v.size, 64 - code.width), left=False)
        return k.astype(np.int64), (code.width <= bits) & (k < _U64(code.n))
    zeros = 64 - bit_length(v)
    used = 2 * zeros + 1
    n = _shift(v, 64 - used, left=False)
    ok = (v > 0) & (used <= bits)
    if isinstance(code, EliasGammaCode):
        return n.astype(np.int64) - 1, ok
    w = n.astype(np.int64)
    ok &= (w <= 63) & (used + w - 1 <= bits)
    rest = _shift(_shift(v, used, left=True), 64 - (w - 1), left=False)
    k = (_shift(_U64(1), w - 1, left=True) | rest).astype(np.int64) - 1
    return k, ok
