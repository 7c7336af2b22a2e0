"""The quantized DCT coefficients of a baseline JPEG file, read by its entropy decoder.

A JPEG file (ITU-T T.81, "Information technology -- Digital compression and coding of
continuous-tone still images") stores, per component, 8x8 blocks of integers ``k = round(F / Q)``:
the block's DCT ``F`` divided by the quantization table ``Q``. Pillow exposes the tables
(``Image.quantization``, natural order) and the sampling factors (``Image.layer``) but not ``k``,
which the consistency projection (:mod:`diffc.refine.jpeg_projection`) needs. This module reads
them with the sequential Huffman decoder of T.81 Annex F (F.2.2: DC differences, AC run/size
pairs, end-of-block, restart intervals), for the frames libjpeg writes through Pillow: baseline and
extended sequential Huffman (SOF0, SOF1), interleaved or not. Progressive and arithmetic-coded
files are refused with a ``ValueError``. Exact: the integers are the file's.

Files are untrusted input: every malformed structure (a segment running past the end, a table or
component a scan names but the file lacks, sampling factors outside 1..4, a magnitude category
beyond 8-bit precision, a second frame header) is a ``ValueError``, and the frame's size is checked
against ``max_pixels`` before its block arrays are allocated (tests/test_fuzz_refine.py).

Blocks are returned in natural (row-major) order, one array ``(blocks_v, blocks_h, 8, 8)`` per
component, covering whole MCUs (the encoder's padding blocks included), with each component's
sampling factors ``(h, v)`` and quantization table (from Pillow).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

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


class _Bits:
    """MSB-first bit reader over entropy-coded bytes with the stuffed zero bytes removed."""

    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.pos = 0

    def take(self, n: int) -> int:
        if self.pos + n > len(self.bits):
            raise ValueError("JPEG entropy-coded data ends inside a block (truncated or corrupt file)")
        value = int(self.bits[self.pos:self.pos + n], 2) if n else 0
        self.pos += n
        return value

    def symbol(self, table: dict[str, int]) -> int:
        for n in range(1, 17):
            code = self.bits[self.pos:self.pos + n]
            if code in table:
                self.pos += n
                return table[code]
        raise ValueError("invalid Huffman code in JPEG data (corrupt file)")

    def extended(self, size: int) -> int:
        """RECEIVE and EXTEND of T.81 F.2.2.1: a ``size``-bit magnitude category to a signed value."""
        value = self.take(size)
        return value - (1 << size) + 1 if size and value < 1 << (size - 1) else value


def _huffman(counts: bytes, symbols: bytes) -> dict[str, int]:
    """Canonical codes (T.81 annex C) as bit strings."""
    table, code, i = {}, 0, 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            table[format(code, f"0{length}b")] = symbols[i]
            code, i = code + 1, i + 1
        code <<= 1
    return table


def _segments(data: bytes, start: int) -> tuple[list[bytes], int]:
    """The entropy-coded bytes from ``start``, split at restart markers and unstuffed, and the offset of
    the marker that ends them."""
    parts, current, i = [], bytearray(), start
    while i < len(data):
        b = data[i]
        if b != 0xFF:
            current.append(b)
            i += 1
            continue
        nxt = data[i + 1] if i + 1 < len(data) else 0xD9
        if nxt == 0x00:
            current.append(0xFF)
            i += 2
        elif 0xD0 <= nxt <= 0xD7:
            parts.append(bytes(current))
            current = bytearray()
            i += 2
        else:
            break
    parts.append(bytes(current))
    return parts, i


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
    dc: dict[int, dict[str, int]] = {}
    ac: dict[int, dict[str, int]] = {}
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
            parts, i = _segments(data, i)
            _decode_scan(parts, scan, frame, dc, ac, restart)
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


def _scan(body: bytes, frame: dict[int, dict], dc: dict[int, dict[str, int]],
          ac: dict[int, dict[str, int]]) -> list[tuple[int, int, int]]:
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


def _decode_scan(parts: list[bytes], scan: list[tuple[int, int, int]], frame: dict[int, dict],
                 dc: dict[int, dict[str, int]], ac: dict[int, dict[str, int]], restart: int) -> None:
    """Decode one scan's blocks into the frame's arrays (T.81 F.2.2)."""
    if len(scan) == 1:
        f = frame[scan[0][0]]
        blocks = [(scan[0], by, bx) for by in range(f["own"][0]) for bx in range(f["own"][1])]
        units = [[b] for b in blocks]
    else:
        mcus_v, mcus_h = next(iter(frame.values()))["mcus"]
        units = [[(s, my * frame[s[0]]["v"] + y, mx * frame[s[0]]["h"] + x) for s in scan
                  for y in range(frame[s[0]]["v"]) for x in range(frame[s[0]]["h"])]
                 for my in range(mcus_v) for mx in range(mcus_h)]
    per_interval = restart or len(units)
    for n, start in enumerate(range(0, len(units), per_interval)):
        if n >= len(parts):
            raise ValueError("JPEG restart interval missing (truncated or corrupt file)")
        bits, pred = _Bits(parts[n]), dict.fromkeys((s[0] for s in scan), 0)
        for unit in units[start:start + per_interval]:
            for (cid, td, ta), by, bx in unit:
                coef = np.zeros(64, dtype=np.int32)
                size = bits.symbol(dc[td])
                if size > 11:  # T.81 F.1.2.1: DC differences of 8-bit samples
                    raise _corrupt(f"DC magnitude category {size}")
                pred[cid] += bits.extended(size)
                coef[0] = pred[cid]
                k = 1
                while k < 64:
                    rs = bits.symbol(ac[ta])
                    run, size = rs >> 4, rs & 15
                    if size > 10:  # T.81 F.1.2.2: AC coefficients of 8-bit samples
                        raise _corrupt(f"AC magnitude category {size}")
                    if size == 0:
                        if run != 15:
                            break  # end of block
                        k += 16
                        continue
                    k += run
                    if k > 63:
                        raise ValueError("JPEG block with more than 64 coefficients (corrupt file)")
                    coef[ZIGZAG[k]] = bits.extended(size)
                    k += 1
                frame[cid]["blocks"][by, bx] = coef.reshape(8, 8)
