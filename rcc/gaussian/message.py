"""The message format of the chunked Gaussian channel: side information, then the coded indices.

One bit stream, padded once to a byte (``docs/channel.md``). The side information
(:class:`SideInfo`) is

* the index code's budget over ``chunk_bits``: Elias gamma of ``max(0, max_c b_c - chunk_bits) + 1``
  (1 bit when every chunk fits ``chunk_bits``); the truncated codes stop at
  ``2^(budget + headroom_bits)``, the largest search of the call;
* the heavy dimensions: Elias gamma of their count + 1 (1 bit when none), then their positions,
  ``ceil(log2 D)`` bits each;
* the chunk count, heavy ones included, Elias delta (1 bit for one chunk, 14 for 200);
* the partition trial, ``partition_trial_bits`` bits, only when more than one chunk is shuffled;
* for the range-coded index codes, the mean chunk KL in ``MEAN_KL_BITS`` bits, as a level of the
  budget.

Index codes (``index_code``): ``"fixed"`` writes ``budget + headroom_bits`` bits per chunk;
``"zipf"`` and ``"zipf_truncated"`` range-code each index with Li & El Gamal's (2018) Zipf law
(:class:`rcc.codes.ZipfCode`), untruncated or truncated at the call's largest search;
``"pfr_lognormal"`` with the index law of PFR on a Gaussian chunk (:class:`rcc.codes.PFRIndexCode`:
``log2 K`` normal around the chunk's KL), truncated there too. The law is the one for the
transmitted mean chunk KL, ``(q + 1) budget / 2^MEAN_KL_BITS`` bits (the nearest of four levels):
the decoder does not know each chunk's KL, and with filled chunks the mean is close to every
chunk's. A law that fits badly costs rate, never decodability. A range-coded message loses the
trailing bytes of the range coder's last word that its decoder does not need, and only the
encoder's own bytes decode (:func:`read`), so every sample has exactly one message.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rcc.codes import (
    BitReader,
    BitWriter,
    FixedLengthCode,
    IndexCode,
    PFRIndexCode,
    ZipfCode,
    elias_delta_read,
    elias_delta_write,
    elias_gamma_read,
    elias_gamma_write,
    trim,
)
from rcc.core import Message
from rcc.gaussian.partition import ONE_BIT
from rcc.gaussian.spec import ChannelSpec
from rcc_kernels.errors import InvalidTypeError

__all__ = ["MEAN_KL_BITS", "SideInfo", "floor_bytes", "index_code", "kl_quanta", "message_bytes", "pack",
           "read", "side_info", "unpack"]

MEAN_KL_BITS = 2
"""The range-coded index codes' mean chunk KL is sent as one of 2^MEAN_KL_BITS levels of the budget."""
_RANGE_CODED_SLACK = 4
"""Trailing bytes a range-coded message may lose (the coder's last 32-bit word)."""


@dataclass(frozen=True)
class SideInfo:
    """The side information at the start of a message (module docstring), as the decoder reads it.

    ``budget_bits``: the index code's budget; ``heavy``: the positions of the heavy dimensions,
    one chunk each, in increasing order; ``n_chunks``: all chunks, heavy ones included; ``trial``:
    the partition trial (0 when at most one chunk is shuffled, and none is sent); ``kl_quanta``: the
    mean chunk KL level (None for the fixed-length code); ``side_bits``: the bits it occupies (the
    index code starts there).
    """

    budget_bits: int
    heavy: tuple[int, ...]
    n_chunks: int
    trial: int
    kl_quanta: int | None
    side_bits: int

    @property
    def mean_kl_bits(self) -> float | None:
        """The mean chunk KL the decoder's index law assumes."""
        if self.kl_quanta is None:
            return None
        return self.budget_bits * (self.kl_quanta + 1) / (1 << MEAN_KL_BITS)


def message_bytes(message: Message | bytes) -> bytes:
    """The bytes of a message given as a :class:`rcc.core.Message` or as bytes."""
    data = message.data if isinstance(message, Message) else message
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidTypeError(f"a message is bytes or a Message, got {type(message).__name__}")
    return bytes(data)


@functools.lru_cache(maxsize=64)
def _index_code(index_code: str, budget: int, headroom: int, mean_kl: float | None) -> IndexCode:
    """The index code of a call; shared between calls, so a Zipf code's tables are built once."""
    n_candidates = 1 << (budget + headroom)
    if index_code == "fixed":
        return FixedLengthCode(n_candidates)
    if index_code == "pfr_lognormal":
        return PFRIndexCode.for_kl(mean_kl, n_candidates)
    return ZipfCode.for_kl(mean_kl, n_candidates if index_code == "zipf_truncated" else None)


def index_code(spec: ChannelSpec, budget_bits: int, mean_kl_bits: float | None) -> IndexCode:
    """The code of a call's indices: ``budget_bits`` is the index code's budget, ``mean_kl_bits`` the
    mean chunk KL its law assumes (None for the fixed-length code)."""
    return _index_code(spec.index_code, budget_bits, spec.headroom_bits, mean_kl_bits)


def kl_quanta(spec: ChannelSpec, kl_grid: np.ndarray, n_chunks: int, budget: int) -> int | None:
    """The level (q + 1) / 2^MEAN_KL_BITS of the budget nearest the mean chunk KL, in integers on
    the partition's KL grid (None for the fixed-length code, which sends none)."""
    if spec.index_code == "fixed":
        return None
    levels = 1 << MEAN_KL_BITS
    scale = n_chunks * budget * ONE_BIT
    nearest = (2 * levels * int(kl_grid.sum()) + scale) // (2 * scale)
    return min(levels, max(1, nearest)) - 1


def _write_side(writer: BitWriter, spec: ChannelSpec, side: SideInfo, dim: int) -> None:
    elias_gamma_write(writer, side.budget_bits - spec.chunk_bits + 1)
    elias_gamma_write(writer, len(side.heavy) + 1)
    width = (dim - 1).bit_length()
    for position in side.heavy:
        writer.write(position, width)
    elias_delta_write(writer, side.n_chunks)
    if side.n_chunks - len(side.heavy) > 1:
        writer.write(side.trial, spec.partition_trial_bits)
    if side.kl_quanta is not None:
        writer.write(side.kl_quanta, MEAN_KL_BITS)


def _read_side(reader: BitReader, spec: ChannelSpec, dim: int, max_search_bits: int) -> SideInfo:
    budget = spec.chunk_bits + elias_gamma_read(reader) - 1
    if budget > max_search_bits:
        raise ValueError(f"corrupt message: chunk budget {budget} beyond max_search_bits")
    n_heavy = elias_gamma_read(reader) - 1
    if n_heavy > dim:
        raise ValueError(f"corrupt message: {n_heavy} heavy dimensions of {dim}")
    width = (dim - 1).bit_length()
    heavy = tuple(reader.read(width) for _ in range(n_heavy))
    if any(b <= a for a, b in zip(heavy, heavy[1:], strict=False)) or any(h >= dim for h in heavy):
        raise ValueError("corrupt message: heavy dimensions out of order or out of range")
    n_chunks = elias_delta_read(reader)
    shuffled = n_chunks - n_heavy
    if not (shuffled == 0 if n_heavy == dim else 1 <= shuffled <= dim - n_heavy):
        raise ValueError(f"corrupt message: {n_chunks} chunks for {dim} dimensions "
                         "(or the prior has another dimension than the encoder's)")
    trial = reader.read(spec.partition_trial_bits) if shuffled > 1 else 0
    kl_quanta = None if spec.index_code == "fixed" else reader.read(MEAN_KL_BITS)
    return SideInfo(budget, heavy, n_chunks, trial, kl_quanta, reader.bits_read)


def side_info(message: Message | bytes, spec: ChannelSpec, dim: int, max_search_bits: int) -> SideInfo:
    """The side information of a message for a ``dim``-dimensional prior, without decoding it."""
    return _read_side(BitReader(message_bytes(message)), spec, dim, max_search_bits)


def floor_bytes(side: SideInfo, spec: ChannelSpec, dim: int, known: Sequence[int] | np.ndarray = ()) -> int:
    """The fewest bytes of any message with the side information ``side`` (its ``side_bits`` are not
    read) whose indices include ``known``: the side information's bits and the index code's
    floor (:meth:`rcc.codes.base.IndexCode.floor_bits`), less the bytes a range-coded message may
    trim. A caller can tell from it that a message would not fit before it has searched for every
    index, or for any."""
    writer = BitWriter()
    _write_side(writer, spec, side, dim)
    code = index_code(spec, side.budget_bits, side.mean_kl_bits)
    bits = writer.bits_written + code.floor_bits(side.n_chunks, known)
    if not isinstance(code, FixedLengthCode):
        bits -= 8 * _RANGE_CODED_SLACK
    return max(0, -(-bits // 8))


def pack(side: SideInfo, indices: list[int], spec: ChannelSpec, dim: int, max_search_bits: int) -> bytes:
    """Side information and coded indices in one bit stream; a range-coded one loses the
    trailing bytes its decoder does not need."""
    writer = BitWriter()
    _write_side(writer, spec, side, dim)
    code = index_code(spec, side.budget_bits, side.mean_kl_bits)
    payload = code.encode(indices)
    if isinstance(code, FixedLengthCode):  # its bytes end in padding: keep the indices' bits only
        bits = len(indices) * code.width
        writer.write(int.from_bytes(payload, "big") >> (8 * len(payload) - bits), bits)
        return writer.to_bytes()
    writer.write(int.from_bytes(payload, "big"), 8 * len(payload))
    data = writer.to_bytes(fill=1)  # a range-coded tail reads as ones (rcc.codes.pad_words)
    return trim(data, lambda prefix: unpack(prefix, spec, dim, max_search_bits)[1] == indices,
                _RANGE_CODED_SLACK)


def unpack(data: bytes, spec: ChannelSpec, dim: int, max_search_bits: int) -> tuple[SideInfo, list[int]]:
    """The one parser of a message: its side information and the chunk indices."""
    reader = BitReader(data)
    side = _read_side(reader, spec, dim, max_search_bits)
    code = index_code(spec, side.budget_bits, side.mean_kl_bits)
    if isinstance(code, FixedLengthCode) and 8 * len(data) - side.n_chunks * code.width not in range(
            side.side_bits, side.side_bits + 8):
        raise ValueError("corrupt message: its length does not match its chunk count "
                         "(or the prior has another dimension than the encoder's)")
    indices = code.decode(reader.rest(fill=1), side.n_chunks)
    n_candidates = 1 << (side.budget_bits + spec.headroom_bits)
    if max(indices) >= n_candidates:
        raise ValueError(f"corrupt message: an index beyond the {n_candidates} candidates")
    return side, indices


def read(data: bytes, spec: ChannelSpec, dim: int, max_search_bits: int) -> tuple[SideInfo, list[int]]:
    """:func:`unpack`, accepting only the encoder's own bytes: a range-coded message decodes with
    extra or altered trailing bytes too, and every sample must have exactly one message."""
    side, indices = unpack(data, spec, dim, max_search_bits)
    if pack(side, indices, spec, dim, max_search_bits) != data:
        raise ValueError("corrupt message: not the canonical encoding of its indices")
    return side, indices
