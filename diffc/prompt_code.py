"""The frozen code of a prompt's text in a DiffC file: a static canonical Huffman code over UTF-8 bytes.

A prompt is short (CLIP takes 77 tokens, a few hundred characters), which is where general-purpose
compressors fail: deflate (zlib) codes short text in fixed-Huffman blocks, 8 bits for every ASCII
letter plus its framing, so a typical prompt comes out no shorter than its UTF-8 bytes; and its
output depends on the library (zlib and zlib-ng write other bytes for the same text), which would
break the rule that the same input gives the same file everywhere (docs/determinism.md). This code
instead is a prefix code fixed by the format: a canonical Huffman code (Huffman 1952; canonical
code assignment as in deflate, RFC 1951 section 3.2.2) built from :data:`WEIGHTS`, integer
frequencies of English text (letters from Lewand's table, per 10,000 characters, with the space,
commas and the rest of printable ASCII added): about 4.7 bits a character of English prompts.
Any other byte keeps weight 1 (a long code), and a text the table codes badly (another script) is
written as plain UTF-8 instead: the block's first bit says which, the writer takes the shorter
(Huffman on a tie), so a prompt never costs more than its UTF-8 bytes and one bit.

Everything is integers: the tree is built with ties broken by a fixed order, so every machine
builds the same code. Measured sizes are in docs/container.md.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable

__all__ = ["WEIGHTS", "decode", "encode", "encoded_bits"]

_LETTERS = {"e": 1270, "t": 906, "a": 817, "o": 751, "i": 697, "n": 675, "s": 633, "h": 609, "r": 599,
            "d": 425, "l": 403, "c": 278, "u": 276, "m": 241, "w": 236, "f": 223, "g": 202, "y": 197,
            "p": 193, "b": 149, "v": 98, "k": 77, "j": 15, "x": 15, "q": 10, "z": 7}


def _weights() -> tuple[int, ...]:
    w = [1] * 256
    for c in range(0x21, 0x7F):  # printable ASCII: punctuation, digits, letters
        w[c] = 10
    for c in "0123456789":
        w[ord(c)] = 20
    for c, n in _LETTERS.items():
        w[ord(c)] = n
        w[ord(c.upper())] = n // 10 + 10
    w[ord(" ")], w[ord(",")], w[ord(".")], w[ord("-")] = 2000, 150, 40, 20
    return tuple(w)


WEIGHTS = _weights()
"""The weight of every byte value (part of the format: never change it; a new table needs a new
container version)."""


@functools.cache
def _code() -> tuple[tuple[tuple[int, int], ...], dict[tuple[int, int], int]]:
    """(length, code) of every byte, and the byte of every (length, code): the canonical code."""
    # Huffman's merge, ties broken by creation order (leaves 0..255 first, then merged nodes).
    heap = [(w, i, (i,)) for i, w in enumerate(WEIGHTS)]
    heapq.heapify(heap)
    depth = [0] * 256
    order = 256
    while len(heap) > 1:
        w1, _, s1 = heapq.heappop(heap)
        w2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            depth[s] += 1
        heapq.heappush(heap, (w1 + w2, order, s1 + s2))
        order += 1
    codes, value, previous = [(0, 0)] * 256, 0, 0
    for length, symbol in sorted((d, s) for s, d in enumerate(depth)):
        value <<= length - previous
        codes[symbol], previous = (length, value), length
        value += 1
    return tuple(codes), {c: s for s, c in enumerate(codes)}


def encoded_bits(text: bytes) -> int:
    """The bits of ``text``'s block: the mode bit and the shorter of the Huffman codes and the bytes."""
    codes = _code()[0]
    return 1 + min(sum(codes[b][0] for b in text), 8 * len(text))


def encode(text: bytes, put: Callable[[int, int], None]) -> None:
    """Write ``text``'s block with ``put(value, n_bits)`` (most significant bit first)."""
    codes = _code()[0]
    huffman = sum(codes[b][0] for b in text) <= 8 * len(text)
    put(int(not huffman), 1)
    for b in text:
        length, code = codes[b] if huffman else (8, b)
        put(code, length)


def decode(n_bytes: int, bit: Callable[[], int]) -> bytes:
    """Read a block of ``n_bytes`` bytes from ``bit()`` (one bit a call, most significant first)."""
    raw = bit()
    if raw:
        return bytes(sum(bit() << (7 - i) for i in range(8)) for _ in range(n_bytes))
    symbols = _code()[1]
    out = bytearray()
    for _ in range(n_bytes):
        length, value = 0, 0
        while (length, value) not in symbols:  # a complete code: every bit string ends a symbol
            length, value = length + 1, value << 1 | bit()
        out.append(symbols[length, value])
    return bytes(out)
