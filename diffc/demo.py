"""``make demo``: the main job on the bundled defaults, from what the toolkit has so far.

1. Shared randomness: the Philox4x32-10 known-answer check, one value of the frozen mapping at
   64-bit indices, and our CPU normal generator's throughput against numpy's in the same run.
2. Channel simulation: a 10,000-dimensional Gaussian sample sent with the chunked Gaussian channel
   (default, unbiased settings): real bits against the KL.
3. DiffC on Gaussian data with the exact oracle (a 32x32 power-law DCT source standing in for an
   image): one progressive file, decoded from three of its prefixes by DiffC-A, DiffC-F and MMSE,
   with the closed-form distortions beside the measured ones.
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
    _gaussian_channel(args.seed)
    _diffc_gaussian(args.seed)
    print("\nDemo finished: " + ("all checks passed." if ok else "KNOWN-ANSWER MISMATCH."))
    return 0 if ok else 1


def _gaussian_channel(seed: int) -> None:
    from rcc.gaussian_channel import GaussianChannel

    print("\n== Channel simulation: N(mu_q, s^2 I) against N(mu_p, s^2 I), 10,000 dimensions ==")
    rng = np.random.default_rng(seed)
    dim, kl_bits = 10_000, 500.0
    mu_p, s = rng.normal(size=dim), np.full(dim, 0.5)
    delta = rng.normal(size=dim)
    delta *= np.sqrt(2 * kl_bits * np.log(2) / np.sum(delta**2))
    mu_q = mu_p + s * delta
    channel = GaussianChannel()
    started = time.perf_counter()
    message, stats = channel.encode(mu_q, s, mu_p, s, seed=seed, stream=(0,))
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    z = channel.decode(message, mu_p, s, seed=seed, stream=(0,))
    decode_s = time.perf_counter() - started
    print(f"  {channel}")
    print(f"  KL {stats.kl_bits:.0f} bits -> message {stats.bits} bits "
          f"({stats.bits / stats.kl_bits:.2f}x KL, "
          f"{stats.side_bits} bits of side information), {stats.n_chunks} chunks of "
          f"{stats.candidates} candidates; encode {encode_s:.2f} s, decode {decode_s:.3f} s")
    err = (z - mu_q) / s
    print(f"  decoded sample: standardised error mean {err.mean():+.4f}, variance {err.var():.4f} "
          f"(target: 0, 1); realized-minus-KL {-stats.shortfall_bits:+.1f} bits")


def _diffc_gaussian(seed: int) -> None:
    import math

    from diffc import gaussian_theory as theory
    from diffc import schedules
    from diffc.container import truncate
    from diffc.decoders import decode_state, reconstruct
    from diffc.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
    from diffc.encoder import encode
    from diffc.schedules import ContinuousVP, equal_kl
    from rcc.gaussian_channel import GaussianChannel

    print("\n== DiffC on a 32x32 Gaussian 'image' with the exact oracle (progressive file) ==")
    lam = power_law_spectrum((32, 32), 2.0)
    vp = ContinuousVP("cosine", -15.0, 15.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = equal_kl(vp, 6, lambda v: theory.mutual_information_bits(lam, math.exp(v)), 3.0)
    x = DCT2Basis().inverse(np.sqrt(lam) * np.random.default_rng(seed).standard_normal((32, 32)))
    channel = GaussianChannel(chunk_bits=8, headroom_bits=8)
    encoded = encode(x, oracle, schedule, channel, seed=seed, value_range=(-8.0, 8.0), variance="exact")
    print(f"  file: {len(encoded.data)} bytes ({encoded.header_bits} header bits), "
          f"sum of step KLs {encoded.ideal_bits:.0f} bits")
    print("  stop  file bits  I(X;Z_t)   MSE  DiffC-A (theory)  DiffC-F, Heun (theory)  MMSE (theory)")
    for k in (2, 4, len(schedule)):
        prefix = truncate(encoded.data, k)
        state = decode_state(prefix, oracle, schedule)
        snr = schedules.snr(vp, state.t)
        mse = {m: float(np.mean((reconstruct(state.model, state.z, state.t, method=m, seed=seed) - x) ** 2))
               for m in ("ancestral", "heun", "mmse")}
        n = lam.size
        print(f"  {k:4d}  {8 * len(prefix):9d}  {theory.mutual_information_bits(lam, snr):8.0f}        "
              f"{mse['ancestral']:.4f} ({theory.diffc_a_mse(lam, snr) / n:.4f})   "
              f"{mse['heun']:.4f} ({theory.diffc_f_mse(lam, snr) / n:.4f})   "
              f"{mse['mmse']:.4f} ({theory.mmse(lam, snr) / n:.4f})")


if __name__ == "__main__":
    raise SystemExit(main())
