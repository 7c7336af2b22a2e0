"""Same bytes on every CPU (docs/determinism.md): portable functions, and bytes and decoded values
that do not move when numpy's and libm's transcendental functions are off by an ulp."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import special

from rcc import portable
from rcc.bounds import gaussian_kl_bits_per_coordinate
from rcc.codes import EliasDeltaCode, EliasGammaCode, FixedLengthCode, PFRIndexCode, ZipfCode
from rcc.codes.zipf_law import zipf_mass
from rcc.gaussian import INDEX_CODES, ChannelSpec, GaussianChannel
from rcc.gaussian.partition import KL_GRID_BITS
from rcc.perturb import perturbed_transcendentals, simd_extensions
from rcc.quantization import LayeredQuantizer, Prior, UniversalQuantizer, entropy

SEEDS = (0, 1, 2)


def _ulps(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.spacing(np.abs(b))))


# -- rcc.portable ---------------------------------------------------------------------------------

RNG = np.random.default_rng(12)
DOMAINS = {
    "log2": (portable.log2, np.log2, np.concatenate([np.exp(RNG.uniform(-700, 700, 4000)),
                                                     np.arange(1.0, 4000.0), [2.0**62 + 2**11]])),
    "log1p": (portable.log1p, np.log1p, np.concatenate([RNG.uniform(-0.999, 3.0, 4000),
                                                        10.0 ** RNG.uniform(-20, 20, 4000)])),
    "expm1": (portable.expm1, np.expm1, np.concatenate([RNG.uniform(-0.5, 0.5, 4000),
                                                        RNG.uniform(-3, 3, 4000),
                                                        -(10.0 ** RNG.uniform(-20, 0, 4000))])),
    "exp2": (portable.exp2, np.exp2, RNG.uniform(-1000, 1000, 4000)),
    "ndtr": (portable.ndtr, special.ndtr, np.concatenate([RNG.uniform(-8, 8, 4000), [-40.0, 0.0, 40.0]])),
}
TOLERANCE = {"ndtr": 1e-7}
"""Absolute error allowed of an approximation by design; the others are within four ulps."""


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_portable_functions_are_within_four_ulps_of_numpy(name: str) -> None:
    mine, reference, x = DOMAINS[name]
    if name in TOLERANCE:
        np.testing.assert_allclose(mine(x), reference(x), rtol=0, atol=TOLERANCE[name])
    else:
        assert _ulps(mine(x), reference(x)) <= 4
    assert isinstance(mine(float(x[0])), float)


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_portable_functions_ignore_the_perturbation(name: str) -> None:
    mine, _, x = DOMAINS[name]
    expected = mine(x)
    with perturbed_transcendentals(seed=3):
        np.testing.assert_array_equal(mine(x), expected)


def test_exact_cases() -> None:
    assert portable.log2(1.0) == 0.0 and portable.log2(2.0**-1074) == -1074.0
    assert portable.exp2(-3.0) == 0.125 and portable.log1p(0.0) == 0.0 and portable.expm1(0.0) == 0.0


# -- the harness is live --------------------------------------------------------------------------


def test_simd_extensions_name_this_cpu() -> None:
    line = simd_extensions()
    assert line.startswith("numpy SIMD: baseline") and "not found" in line


def test_the_perturbation_moves_every_function_and_is_undone() -> None:
    x = np.linspace(0.1, 3.0, 101)
    exact = {name: getattr(np, name)(x) for name in ("log", "exp", "sqrt", "log1p", "expm1", "log2", "exp2")}
    power = np.power(x, 0.7)
    scalar = math.log(3.0)
    with perturbed_transcendentals(seed=0):
        for name, value in exact.items():
            moved = getattr(np, name)(x)
            assert np.all(moved != value) and _ulps(moved, value) <= 1, name
        assert np.all(np.power(x, 0.7) != power) and math.log(3.0) != scalar
        out = np.empty_like(x)
        np.log(x, out=out)
        assert np.all(out != exact["log"])
    np.testing.assert_array_equal(np.log(x), exact["log"])
    assert math.log(3.0) == scalar


def test_the_perturbation_reaches_the_coding_path_and_would_flip_a_float_argmin() -> None:
    """What went wrong before the fix, reproduced: one chunk's KL summed in the orders of eight
    partition trials, from parameters and a KL that saw perturbed functions, gives float minima
    in different trials, where the integer grid ties and picks trial 0."""
    rng = np.random.default_rng(5)
    dim = 64
    a, v = rng.normal(size=dim), 0.1 * rng.normal(size=dim)
    orders = [rng.permutation(dim) for _ in range(8)]
    reference = gaussian_kl_bits_per_coordinate(np.expm1(a), np.exp(v), 0.0, 1.0)
    choices = set()
    for seed in range(20):
        with perturbed_transcendentals(seed):
            kl = gaussian_kl_bits_per_coordinate(np.expm1(a), np.exp(v), 0.0, 1.0)
        assert np.any(kl != reference)
        choices.add(int(np.argmin([np.add.reduceat(kl[o], [0]).max() for o in orders])))
        grid = np.rint(kl * 2.0**KL_GRID_BITS).astype(np.int64)
        assert len({int(grid[o].sum()) for o in orders}) == 1
    assert len(choices) > 1


# -- encoder bytes and decoded values do not move -------------------------------------------------


def _problem(dim: int, kl_bits: float, unequal: bool, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mu_p, s_p = rng.normal(size=dim), np.exp(0.3 * rng.normal(size=dim))
    s_q = s_p * np.exp(-0.05 * rng.random(dim)) if unequal else s_p
    delta = rng.normal(size=dim)
    delta *= math.sqrt(2 * kl_bits * math.log(2) / np.sum(delta**2))
    return mu_p + delta * s_p, s_q, mu_p, s_p


CHANNEL_CASES = [
    # (channel, dim, KL, unequal variances): one chunk, many chunks, a heavy dimension, n == dim.
    (GaussianChannel(ChannelSpec(index_code=code)), 64, kl, unequal)
    for code in INDEX_CODES for kl, unequal in ((3.0, False), (60.0, True))
] + [
    (GaussianChannel(ChannelSpec(chunk_bits=2, headroom_bits=2)), 3, 4.0, False),
    (GaussianChannel(ChannelSpec(chunk_bits=3, headroom_bits=4)), 40, 30.0, True),
]


@pytest.mark.parametrize("case", range(len(CHANNEL_CASES)))
def test_channel_bytes_and_samples_survive_the_perturbation(case: int) -> None:
    channel, dim, kl, unequal = CHANNEL_CASES[case]
    mu_q, s_q, mu_p, s_p = _problem(dim, kl, unequal, seed=case)
    message, _ = channel.encode(mu_q, s_q, mu_p, s_p, seed=11, stream=(case,))
    z = channel.decode(message, mu_p, s_p, seed=11, stream=(case,))
    for seed in SEEDS:
        with perturbed_transcendentals(seed):
            again, _ = channel.encode(mu_q, s_q, mu_p, s_p, seed=11, stream=(case,))
            z_again = channel.decode(message, mu_p, s_p, seed=11, stream=(case,))
        assert again.data == message.data
        np.testing.assert_array_equal(z_again, z)


CODES = [FixedLengthCode(1000), EliasGammaCode(), EliasDeltaCode(), ZipfCode.for_kl(0.0),
         ZipfCode.for_kl(3.7), ZipfCode.for_kl(3.7, n=4096), ZipfCode.for_kl(11.25, n=2**20),
         ZipfCode.for_kl(40.0), PFRIndexCode.for_kl(8.25, n=2**11), PFRIndexCode.for_kl(2.0, n=2**24)]


@pytest.mark.parametrize("code", CODES, ids=repr)
def test_index_code_bytes_survive_the_perturbation(code: object) -> None:
    rng = np.random.default_rng(1)
    limit = getattr(code, "n", None) or 2**62
    indices = [int(k) for k in np.minimum(rng.zipf(1.3, 200) - 1, limit - 1)]
    data = code.encode(indices)
    for seed in SEEDS:
        with perturbed_transcendentals(seed):
            # A fresh code: its tables are cached per instance and must be rebuilt perturbed.
            fresh = dataclasses.replace(code)
            assert fresh.encode(indices) == data
            assert fresh.decode(data, len(indices)) == indices


def test_zipf_masses_are_the_same_bits_under_the_perturbation() -> None:
    ranges = [(1, 2), (1, 256), (3, 700), (256, 4097), (2**40, 2**41), (2**61, 2**62 + 1)]
    lams = [1.0 + 1.0 / a for a in (1.53, 5.0, 41.5, 2.0**30)]
    expected = [zipf_mass(lam, lo, hi) for lam in lams for lo, hi in ranges]
    with perturbed_transcendentals(seed=4):
        assert [zipf_mass(lam, lo, hi) for lam in lams for lo, hi in ranges] == expected


@pytest.mark.parametrize("quantizer", [UniversalQuantizer(0.3), LayeredQuantizer(0.4)], ids=repr)
def test_quantizer_bytes_and_indices_survive_the_perturbation(quantizer: object) -> None:
    x = np.random.default_rng(2).normal(size=200) * 2.0
    prior = Prior.gaussian(0.0, 2.0)
    data, _ = quantizer.compress(x, prior, seed=8)
    indices = entropy.decode(data, *quantizer.side(8, x.shape)[::-1], prior)
    y = quantizer.decompress(data, prior, x.shape, seed=8)
    for seed in SEEDS:
        with perturbed_transcendentals(seed):
            assert quantizer.compress(x, prior, seed=8)[0] == data
            step, u = quantizer.side(8, x.shape)
            np.testing.assert_array_equal(entropy.decode(data, u, step, prior), indices)
            # The layered step is a (perturbed) square root of shared normals, so the reconstruction
            # step * (K + u) may move by an ulp of its terms; the indices may not.
            np.testing.assert_allclose(quantizer.decompress(data, prior, x.shape, seed=8), y,
                                       rtol=0, atol=1e-14)


def test_diffc_encoder_bytes_survive_the_perturbation() -> None:
    from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
    from diffc.diffusion.schedules import ContinuousVP
    from diffc.diffusion.spacing import uniform_log_snr
    from diffc.encoder import encode

    shape = (8, 8)
    vp = ContinuousVP("cosine", -15.0, 15.0)
    lam = power_law_spectrum(shape, exponent=2.0)
    oracle = GaussianOracle(vp, lam, basis=DCT2Basis())
    schedule = uniform_log_snr(vp, 4, -3.0, 2.0)
    x = DCT2Basis().inverse(np.sqrt(lam) * np.random.default_rng(7).standard_normal(shape))
    data = encode(x, oracle, schedule, GaussianChannel(), seed=7, value_range=(-4.0, 4.0)).data
    for seed in SEEDS:
        with perturbed_transcendentals(seed):
            again = encode(x, oracle, schedule, GaussianChannel(), seed=7, value_range=(-4.0, 4.0)).data
        assert again == data


def test_conditioning_options_survive_the_perturbation() -> None:
    """The prompt's static Huffman code and the guidance's shortest decimal are integers and
    correctly rounded conversions: the header's bytes do not depend on the CPU's libm."""
    import hashlib

    from diffc.container import DEFAULT_CODER, Header, encode_header, read_container, write_container

    header = Header(b"\x01" * 8, (4, 8, 8), (-1.0, 1.0), 0, DEFAULT_CODER, "posterior", False, "index", None,
                    (3,), family="sd1", conditioning="prompt",
                    conditioning_id=hashlib.sha256(b"c").digest()[:8],
                    prompt="portrait of an old fisherman, 35mm, \u6771\u4eac", guidance=0.1 + 0.2)
    data = encode_header(header)
    for seed in SEEDS:
        with perturbed_transcendentals(seed):
            assert encode_header(header) == data
            assert read_container(write_container(header, [b"a", b"b"])).header == header
