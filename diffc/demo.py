"""``make demo``: the main job on the bundled defaults, from what the toolkit has so far.

Today: the Philox4x32-10 known-answer check on every available backend, a look at the frozen
shared-randomness mapping, and a throughput line of our CPU normal generator against numpy's
``Generator(Philox)`` measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _throughput(n_rows: int = 2048, dim: int = 4096, repeats: int = 3) -> tuple[float, float]:
    import kernels

    key = kernels.stream_key(0, (1,))
    kernels.normal(key, 0, 8, dim)  # compile outside the timed region
    ours, theirs = [], []
    gen = np.random.Generator(np.random.Philox(0))
    buf = np.empty((n_rows, dim))
    for _ in range(repeats):
        t = time.perf_counter()
        kernels.normal(key, 0, n_rows, dim)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        gen.standard_normal(out=buf)
        theirs.append(time.perf_counter() - t)
    n = n_rows * dim
    return n / min(ours), n / min(theirs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    import numba

    import kernels
    from kernels.known_answers import check_known_answers

    print("== Philox4x32-10 known-answer tests (Random123) ==")
    lines = check_known_answers()
    for line, _ in lines:
        print("  " + line)
    ok = all(passed for _, passed in lines)

    print("\n== Shared randomness: candidate k, coordinate i of stream (step, chunk) ==")
    key = kernels.stream_key(args.seed, (3, 1))
    k = 2**40 + 5
    z = kernels.normal(key, k, k + 1, 4, coord_start=2**33)
    ref = kernels.normal(key, k, k + 1, 4, coord_start=2**33, backend="numpy")
    print(f"  seed={args.seed} stream=(3, 1) candidate={k} coords 2^33..2^33+3 -> "
          + " ".join(f"{v:+.6f}" for v in z[0]))
    print(f"  numpy reference agrees: {bool(np.allclose(z, ref, rtol=0, atol=kernels.FLOAT_TOLERANCE))}")

    print("\n== Throughput, one thread (standard normals per second) ==")
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    ours, theirs = _throughput()
    numba.set_num_threads(threads)
    print(f"  rcc Philox+AS241 (Numba): {ours:.3g}/s   numpy Generator(Philox): {theirs:.3g}/s   "
          f"ratio {ours / theirs:.2f}")
    print("\nDemo finished: " + ("all checks passed." if ok else "KNOWN-ANSWER MISMATCH."))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
