"""Random123's known-answer vectors for Philox4x32-10 (``kat_vectors`` in Random123 1.09).

Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011). The check is
exact: the CPU kernel and the numpy reference must reproduce every word (``docs/randomness.md``).
"""

from __future__ import annotations

import numpy as np

from rcc_kernels.philox import philox4x32_10, philox4x32_10_numpy

__all__ = ["KNOWN_ANSWERS", "check_known_answers"]

# (counter, key, expected output), hexadecimal words as Random123 prints them.
KNOWN_ANSWERS: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
)


def check_known_answers() -> list[tuple[str, bool]]:
    """Check the numpy reference and the CPU kernel against every vector; one line per vector."""
    lines = []
    for counter, key, expected in KNOWN_ANSWERS:
        cpu = philox4x32_10(counter, key).tolist()
        ref = philox4x32_10_numpy(np.array(counter), np.array(key)).tolist()
        ok = cpu == list(expected) and ref == list(expected)
        words = " ".join(f"{w:08x}" for w in cpu)
        lines.append((f"philox4x32_10 ctr={counter[0]:08x}.. key={key[0]:08x}.. -> {words} "
                      f"{'OK' if ok else 'MISMATCH'}", ok))
    return lines
