"""The quantized DCT coefficients of a baseline JPEG file, read by its entropy decoder.

A JPEG file (ITU-T T.81, "Information technology -- Digital compression and coding of
continuous-tone still images") stores, per component, 8x8 blocks of integers ``k = round(F / Q)``:
the block's DCT ``F`` divided by the quantization table ``Q``. Pillow exposes the tables
(``Image.quantization``, natural order) and the sampling factors (``Image.layer``) but not ``k``,
which the consistency projection (:mod:`diffc.refine.jpeg_projection`) needs. This module reads
them with the sequential Huffman decoder of T.81 Annex F (F.2.2: DC differences, AC run/size
pairs, end-of-block, restart intervals; codes by the DECODE procedure of F.2.2.3), for the frames
libjpeg writes through Pillow: baseline and extended sequential Huffman (SOF0, SOF1), interleaved or
not. Progressive and arithmetic-coded files are refused with a ``ValueError``. Exact: the integers
are the file's.

The markers are parsed in Python; the entropy-coded data (unstuffing, restart intervals, Huffman
decoding) is decoded by Numba-compiled loops (:data:`rcc_kernels.cpu.JIT_OPTIONS`, cached on disk)
into one row of 64 coefficients per block in decode order, which numpy places into each
component's blocks. The compiled code cannot format messages: it returns a status code, and Python
raises the ``ValueError``.

Files are untrusted input: every malformed structure (a segment running past the end, a table or
component a scan names but the file lacks, a Huffman table with more codes than its code lengths
hold, sampling factors outside 1..4, a magnitude category beyond 8-bit precision, a second frame
header) is a ``ValueError``, and the frame's size is checked against ``max_pixels`` before its
block arrays are allocated (tests/test_fuzz_refine.py).

Blocks are returned in natural (row-major) order, one array ``(blocks_v, blocks_h, 8, 8)`` per
component, covering whole MCUs (the encoder's padding blocks included), with each component's
sampling factors ``(h, v)`` and quantization table (from Pillow).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from numba import njit
from PIL import Image

from rcc_kernels.cpu import JIT_OPTIONS

__all__ = ["ZIGZAG", "JpegComponent", "JpegCoefficients", "read_coefficients"]

ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
          13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
          52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63)
"""Natural (row-major) index of the coefficient at each zig-zag position (T.81, figure A.6)."""

_SOF_SEQUENTIAL = (0xC0, 0xC1)
_SOF_OTHER = (0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


@dataclass(frozen=True)
class JpegComponent:
    """One component: its quantized blocks, sampling factors and quantization table (natural order)."""

    blocks: np.ndarray  # int32 (blocks_v, blocks_h, 8, 8)
    h: int
    v: int
    table: np.ndarray  # float64 (8, 8)


@dataclass(frozen=True)
class JpegCoefficients:
    """Every component of a file and the image size ``(H, W)``."""

    size: tuple[int, int]
    components: tuple[JpegComponent, ...]

    @property
    def h_max(self) -> int:
        return max(c.h for c in self.components)

    @property
    def v_max(self) -> int:
        return max(c.v for c in self.components)


_OK, _TRUNCATED, _INVALID_CODE, _DC_CATEGORY, _AC_CATEGORY, _TOO_MANY, _NO_INTERVAL = range(7)
"""Status codes of :func:`_decode` (Numba cannot format messages; :func:`_refuse` does)."""

_ZIGZAG = np.array(ZIGZAG, dtype=np.int64)
_DC_MAX, _AC_MAX = 11, 10
"""The largest magnitude categories of 8-bit samples: DC differences (T.81 F.1.2.1), AC
coefficients (F.1.2.2)."""

_Table = tuple[np.ndarray, bytes]
"""A Huffman table: its decoder tables (:func:`_huffman`) and its symbols."""


def _huffman(counts: bytes, symbols: bytes) -> _Table:
    """The decoder tables of one Huffman table (T.81 F.2.2.3, figure F.15; codes of annex C.2):
    rows MINCODE, MAXCODE (-1 where a length has no codes) and VALPTR, indexed by code length, and
    the symbols (HUFFVAL)."""
    tables = np.zeros((3, 17), dtype=np.int64)
    tables[1] = -1
    code = k = 0
    for length, count in enumerate(counts, start=1):
        if count:
            tables[:, length] = code, code + count - 1, k
            code, k = code + count, k + count
        # more codes than fit in ``length`` bits would not be a prefix code (the all-ones code, which
        # T.81 annex C reserves, still decodes)
        if code > 1 << length:
            raise _corrupt("a Huffman table segment is malformed")
        code <<= 1
    return tables, symbols


@njit(inline="always", **JIT_OPTIONS)
def _bit(data: np.ndarray, pos: int) -> int:
    """Bit ``pos`` of ``data``, most significant first."""
    return (data[pos >> 3] >> (7 - (pos & 7))) & 1


@njit(inline="always", **JIT_OPTIONS)
def _symbol(data: np.ndarray, pos: int, end: int, tables: np.ndarray, values: np.ndarray) -> tuple[int, int]:
    """DECODE of T.81 F.2.2.3: the symbol at bit ``pos`` and the position after its code; symbol -1
    where no code of at most 16 bits before ``end`` matches."""
    code = 0
    for length in range(1, 17):
        if pos >= end:
            return -1, pos
        code = (code << 1) | _bit(data, pos)
        pos += 1
        if code <= tables[1, length]:
            return values[tables[2, length] + code - tables[0, length]], pos
    return -1, pos


@njit(inline="always", **JIT_OPTIONS)
def _extended(data: np.ndarray, pos: int, size: int) -> tuple[int, int]:
    """RECEIVE and EXTEND of T.81 F.2.2.1: the ``size``-bit magnitude category at ``pos`` as a signed
    value, and the position after it (the caller checks that the bits are there)."""
    value = 0
    for i in range(size):
        value = (value << 1) | _bit(data, pos + i)
    if size and value < 1 << (size - 1):
        value -= (1 << size) - 1
    return value, pos + size


@njit(**JIT_OPTIONS)
def _decode(data: np.ndarray, bounds: np.ndarray, unit: np.ndarray, per_interval: int,
            tables: np.ndarray, values: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """Decode a scan's blocks (T.81 F.2.2) into ``out`` (zeros, one row of 64 a block, natural order).

    ``data`` holds the unstuffed entropy-coded bytes, restart interval ``n`` in bytes
    ``bounds[n]:bounds[n + 1]``; ``unit`` a row per block of one unit (an MCU, or one block of a
    non-interleaved scan) in decode order, repeated until ``out`` is full: the component's slot in
    the scan (its DC predictor), its DC table and its AC table (indices into ``tables``, the rows of
    :func:`_huffman`, and ``values``, the symbols). Every ``per_interval`` blocks the predictors
    restart with the next interval. Returns a status code and, for a refused magnitude category,
    that category.

    Numba does not check bounds, so every index is kept in range here: bits by ``end``, intervals by
    ``bounds.size``, zig-zag positions by the 64-coefficient check, symbols by the DHT check that a
    table has as many symbols as codes.
    """
    pred = np.zeros(4, dtype=np.int64)
    pos = end = 0
    for b in range(out.shape[0]):
        if b % per_interval == 0:
            n = b // per_interval
            if n + 1 >= bounds.size:
                return _NO_INTERVAL, 0
            pos, end = 8 * bounds[n], 8 * bounds[n + 1]
            pred[:] = 0
        row = b % unit.shape[0]
        slot, dc, ac = unit[row, 0], unit[row, 1], unit[row, 2]
        size, pos = _symbol(data, pos, end, tables[dc], values[dc])
        if size < 0:
            return _INVALID_CODE, 0
        if size > _DC_MAX:
            return _DC_CATEGORY, size
        if pos + size > end:
            return _TRUNCATED, 0
        diff, pos = _extended(data, pos, size)
        pred[slot] += diff
        out[b, 0] = pred[slot]
        k = 1
        while k < 64:
            rs, pos = _symbol(data, pos, end, tables[ac], values[ac])
            if rs < 0:
                return _INVALID_CODE, 0
            run, size = rs >> 4, rs & 15
            if size > _AC_MAX:
                return _AC_CATEGORY, size
            if size == 0:
                if run != 15:
                    break  # end of block
                k += 16  # sixteen zeros
                continue
            k += run
            if k > 63:
                return _TOO_MANY, 0
            if pos + size > end:
                return _TRUNCATED, 0
            value, pos = _extended(data, pos, size)
            out[b, _ZIGZAG[k]] = value
            k += 1
    return _OK, 0


def _refuse(status: int, value: int) -> ValueError:
    """The refusal of a :func:`_decode` status."""
    return {
        _TRUNCATED: ValueError("JPEG entropy-coded data ends inside a block (truncated or corrupt file)"),
        _INVALID_CODE: ValueError("invalid Huffman code in JPEG data (corrupt file)"),
        _DC_CATEGORY: _corrupt(f"DC magnitude category {value}"),
        _AC_CATEGORY: _corrupt(f"AC magnitude category {value}"),
        _TOO_MANY: ValueError("JPEG block with more than 64 coefficients (corrupt file)"),
        _NO_INTERVAL: ValueError("JPEG restart interval missing (truncated or corrupt file)"),
    }[status]


@njit(**JIT_OPTIONS)
def _segments(data: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The entropy-coded bytes from ``start`` with the stuffed zero bytes removed (T.81 F.1.2.3), the
    offsets in them where restart intervals begin and end (B.2.1: a restart marker between two), and
    the offset in ``data`` of the marker that ends them."""
    out = np.empty(data.size - start, dtype=np.uint8)
    bounds = [0]
    n, i = 0, start
    while i < data.size:
        b = data[i]
        if b != 0xFF:
            out[n] = b
            n, i = n + 1, i + 1
            continue
        nxt = data[i + 1] if i + 1 < data.size else 0xD9
        if nxt == 0x00:
            out[n] = 0xFF
            n, i = n + 1, i + 2
        elif 0xD0 <= nxt <= 0xD7:
            bounds.append(n)
            i += 2
        else:
            break
    bounds.append(n)
    return out[:n], np.array(bounds), i


def _corrupt(what: str) -> ValueError:
    return ValueError(f"corrupt JPEG file: {what}")


def read_coefficients(data: bytes, max_pixels: int | None = None) -> JpegCoefficients:
    """The quantized coefficients of every component of a sequential Huffman JPEG file whose frame
    has at most ``max_pixels`` pixels (None: no limit)."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as picture:
            tables = {k: np.asarray(v, dtype=np.float64).reshape(8, 8)
                      for k, v in picture.quantization.items()}
    except Exception as error:  # noqa: BLE001  Pillow reports foreign data in several ways
        raise ValueError(f"not a JPEG file Pillow can read: {error}") from error
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI marker)")
    array = np.frombuffer(data, dtype=np.uint8)
    dc: dict[int, _Table] = {}
    ac: dict[int, _Table] = {}
    frame: dict[int, dict] = {}
    order: list[int] = []
    size = (0, 0)
    restart, i = 0, 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i} (corrupt file)")
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1  # fill byte
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2 or i + 2 + length > len(data):
            raise _corrupt(f"the segment at byte {i} runs past the end of the file")
        body = data[i + 4:i + 2 + length]
        i += 2 + length
        if marker in _SOF_OTHER:
            raise ValueError("only sequential Huffman JPEG files are supported (this one is progressive, "
                             "lossless or arithmetic-coded)")
        if marker in _SOF_SEQUENTIAL:
            size = _frame(body, frame, order, max_pixels)
        elif marker == 0xC4:
            j = 0
            while j < len(body):
                tc, th = body[j] >> 4, body[j] & 15
                counts = body[j + 1:j + 17]
                symbols = body[j + 17:j + 17 + sum(counts)]
                if tc > 1 or th > 3 or len(counts) < 16 or len(symbols) < sum(counts):
                    raise _corrupt("a Huffman table segment is malformed")
                (dc if tc == 0 else ac)[th] = _huffman(counts, symbols)
                j += 17 + sum(counts)
        elif marker == 0xDD:
            if len(body) != 2:
                raise _corrupt("a restart interval segment is malformed")
            (restart,) = struct.unpack(">H", body)
        elif marker == 0xDA:
            if not frame:
                raise ValueError("JPEG scan before its frame header (corrupt file)")
            _prepare(frame, size)
            scan = _scan(body, frame, dc, ac)
            i = _decode_scan(array, i, scan, frame, dc, ac, restart)
    if not frame or any("blocks" not in frame[c] for c in order):
        raise ValueError("JPEG file without a complete frame and scan (truncated or corrupt file)")
    comps = []
    for c in order:
        if frame[c]["tq"] not in tables:
            raise ValueError(f"JPEG component {c} names quantization table {frame[c]['tq']}, which is absent")
        comps.append(JpegComponent(frame[c]["blocks"], frame[c]["h"], frame[c]["v"], tables[frame[c]["tq"]]))
    return JpegCoefficients(size, tuple(comps))


def _frame(body: bytes, frame: dict[int, dict], order: list[int], max_pixels: int | None) -> tuple[int, int]:
    """Read a frame header (T.81 B.2.2) into ``frame`` and ``order``; its size ``(H, W)``."""
    if frame:
        raise _corrupt("a second frame header")
    if len(body) < 6 or len(body) != 6 + 3 * body[5]:
        raise _corrupt("the frame header is malformed")
    precision, height, width, n = struct.unpack(">BHHB", body[:6])
    if precision != 8 or height == 0 or width == 0 or n not in (1, 3):  # grayscale or YCbCr
        raise _corrupt(f"frame of {precision}-bit precision, {height}x{width} pixels, {n} components")
    if max_pixels is not None and height * width > max_pixels:
        raise ValueError(f"the JPEG frame claims {width}x{height} pixels, more than the limit of "
                         f"{max_pixels}")
    for c in range(n):
        cid, hv, tq = body[6 + 3 * c:9 + 3 * c]
        if cid in frame or not (1 <= hv >> 4 <= 4 and 1 <= hv & 15 <= 4):
            raise _corrupt(f"component {cid} repeated or with sampling factors outside 1..4")
        frame[cid] = {"h": hv >> 4, "v": hv & 15, "tq": tq}
        order.append(cid)
    return height, width


def _scan(body: bytes, frame: dict[int, dict], dc: dict[int, _Table],
          ac: dict[int, _Table]) -> list[tuple[int, int, int]]:
    """A scan header's components and their DC and AC tables (T.81 B.2.3), all present in the file."""
    if not body or not 1 <= body[0] <= 4 or len(body) < 4 + 2 * body[0]:
        raise _corrupt("the scan header is malformed")
    scan = [(body[1 + 2 * c], body[2 + 2 * c] >> 4, body[2 + 2 * c] & 15) for c in range(body[0])]
    for cid, td, ta in scan:
        if cid not in frame or td not in dc or ta not in ac:
            raise _corrupt(f"a scan names component {cid} or Huffman tables {td}, {ta} the file lacks")
    return scan


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _prepare(frame: dict[int, dict], size: tuple[int, int]) -> None:
    """Give each component its block array, covering whole MCUs (T.81 A.2.4)."""
    h_max = max(f["h"] for f in frame.values())
    v_max = max(f["v"] for f in frame.values())
    mcus_v, mcus_h = _ceil(size[0], 8 * v_max), _ceil(size[1], 8 * h_max)
    for f in frame.values():
        if "blocks" not in f:
            f["blocks"] = np.zeros((mcus_v * f["v"], mcus_h * f["h"], 8, 8), dtype=np.int32)
            # a component's own block count, for non-interleaved scans (T.81 A.2.2)
            f["own"] = (_ceil(_ceil(size[0] * f["v"], v_max), 8), _ceil(_ceil(size[1] * f["h"], h_max), 8))
        f["mcus"] = (mcus_v, mcus_h)


def _decode_scan(data: np.ndarray, start: int, scan: list[tuple[int, int, int]], frame: dict[int, dict],
                 dc: dict[int, _Table], ac: dict[int, _Table], restart: int) -> int:
    """Decode one scan, whose entropy-coded data begins at byte ``start``, into the frame's arrays
    (T.81 F.2.2); the offset of the marker after it."""
    entropy, bounds, end = _segments(data, start)
    cids = [cid for cid, _, _ in scan]
    used = [(td, dc[td]) for _, td, _ in scan] + [(4 + ta, ac[ta]) for _, _, ta in scan]  # DC 0..3, AC 4..7
    tables = np.zeros((8, 3, 17), dtype=np.int64)
    tables[:, 1] = -1
    values = np.zeros((8, max(len(symbols) for _, (_, symbols) in used)), dtype=np.int64)
    for index, (codes, symbols) in used:
        tables[index] = codes
        values[index, :len(symbols)] = np.frombuffer(symbols, dtype=np.uint8)
    if len(scan) == 1:  # non-interleaved: the component's own blocks, one a unit (T.81 A.2.2)
        units_v, units_h = frame[cids[0]]["own"]
        unit = [(0, scan[0][1], 4 + scan[0][2])]
    else:  # interleaved: whole MCUs, each component's h x v blocks in turn (A.2.3)
        units_v, units_h = frame[cids[0]]["mcus"]
        # a component named twice keeps one predictor
        unit = [(cids.index(cid), td, 4 + ta) for cid, td, ta in scan
                for _ in range(frame[cid]["v"] * frame[cid]["h"])]
    out = np.zeros((units_v * units_h * len(unit), 64), dtype=np.int32)
    status, value = _decode(entropy, bounds, np.array(unit, dtype=np.int64),
                            len(unit) * (restart or units_v * units_h), tables, values, out)
    if status != _OK:
        raise _refuse(status, value)
    if len(scan) == 1:
        frame[cids[0]]["blocks"][:units_v, :units_h] = out.reshape(units_v, units_h, 8, 8)
        return end
    out = out.reshape(units_v, units_h, len(unit), 8, 8)
    offset = 0
    for cid in cids:
        f = frame[cid]
        part = out[:, :, offset:offset + f["v"] * f["h"]].reshape(units_v, units_h, f["v"], f["h"], 8, 8)
        f["blocks"].reshape(units_v, f["v"], units_h, f["h"], 8, 8)[:] = part.transpose(0, 2, 1, 3, 4, 5)
        offset += f["v"] * f["h"]
    return end
