"""Compress, then refine (diffc.refine): the side information, the start state, the JPEG reader and
projection, the codec's determinism, and the Gaussian check of docs/refine.md."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tiny_unet import save_tiny_model, smooth_image

from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.reverse import ReverseModel
from diffc.diffusion.samplers import reconstruct
from diffc.diffusion.schedules import ContinuousVP, DiscreteVP
from diffc.models import load_model
from diffc.refine.codec import RefineCodec
from diffc.refine.jpeg_coefficients import read_coefficients
from diffc.refine.jpeg_projection import JpegCells
from diffc.refine.sideinfo import (
    CODECS,
    NO_ERROR,
    SideInfo,
    SideInfoError,
    error_level,
    level_variance,
    pack,
    unpack,
)
from diffc.refine.start import start_state, start_time
from rcc.testing import assert_mean

PAYLOAD = b"\xff\xd8 any classical file \xff\xd9"


@pytest.mark.parametrize("seed", [0, 127, 128, 2**35 + 7, 2**64 - 1])
@pytest.mark.parametrize("level", [NO_ERROR, -200, 0, 2**15 - 1])
def test_side_information_round_trip(seed: int, level: int) -> None:
    for codec in CODECS:
        info = SideInfo(codec, level, b"\x01\x02\x03\x04", seed)
        data = pack(info, PAYLOAD)
        assert unpack(data) == (info, PAYLOAD)
        assert len(data) - len(PAYLOAD) == 14 + max(1, -(-seed.bit_length() // 7))  # 15 bytes below 128


def test_error_level_quantizes_the_variance_to_a_sixteenth_octave() -> None:
    rng = np.random.default_rng(0)
    for scale in (1e-4, 0.01, 0.3, 2.0):
        error = rng.normal(0, scale, (3, 8, 8))
        mse = float(np.mean(error**2))
        assert abs(np.log2(level_variance(error_level(error)) / mse)) <= 1 / 32 + 1e-12
    assert error_level(np.zeros((3, 4, 4))) == NO_ERROR and level_variance(NO_ERROR) == 0.0


def test_every_corrupted_byte_and_truncation_is_a_clear_error() -> None:
    data = pack(SideInfo("webp", -37, b"abcd", 300), PAYLOAD)
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(SideInfoError, match="refine file"):
                unpack(bytes(bad))
    for n in range(len(data)):
        with pytest.raises(SideInfoError, match="refine file"):
            unpack(data[:n])
    future = bytearray(data)
    future[2] = 9
    with pytest.raises(SideInfoError, match="version 9"):
        unpack(bytes(future))


def test_start_time_matches_alpha_bar_and_completes_the_noise() -> None:
    table = DiscreteVP.linear()
    for variance in (1e-4, 0.01, 0.25, 3.0):
        i = int(start_time(table, variance))
        target = 1 / (1 + variance)
        assert table.alphas_cumprod[i] <= target and (i == 0 or table.alphas_cumprod[i - 1] > target)
        # the fresh noise makes Var(Z_t | x) = 1 - alpha_bar exactly when y = x + N(0, variance)
        y = np.random.default_rng(1).normal(0, np.sqrt(variance), 200_000)
        z, t = start_state(table, y, variance, seed=3)
        assert t == i and abs(np.var(z) / (1 - table.alphas_cumprod[i]) - 1) < 0.02
    assert start_time(table, 0.0) == 0.0
    assert start_time(table, 0.01, scale=4.0) > start_time(table, 0.01) > start_time(table, 0.01, scale=0.25)
    cont = ContinuousVP()
    assert abs(cont.log_snr(start_time(cont, 0.25)) - np.log(4.0)) < 1e-9


def _gaussian_case(schedule: object, n: int = 400, seed: int = 2024):  # noqa: ANN202
    """X ~ N(0, Sigma) with a power-law DCT spectrum, codec noise N(0, s2) with s2 on the level grid."""
    shape = (16, 16)
    lam = power_law_spectrum(shape, 2.0)
    oracle = GaussianOracle(schedule, lam, basis=DCT2Basis())
    rng = np.random.default_rng(seed)
    x = oracle.basis.inverse(np.sqrt(lam) * rng.normal(size=(n, *shape)))
    s2 = level_variance(-32)  # 0.25, exactly what a file would record
    y = x + np.sqrt(s2) * rng.normal(size=x.shape)
    return oracle, lam, x, y, s2


@pytest.mark.statistical
@pytest.mark.parametrize("schedule", [ContinuousVP(), DiscreteVP.linear()], ids=["continuous", "discrete"])
def test_gaussian_refinement_is_a_posterior_sample_and_mmse_reaches_the_mmse(schedule: object,
                                                                            stat_seed) -> None:
    """With the exact oracle and Gaussian codec noise, ancestral refinement samples X | Z_t exactly
    (MSE = 2 MMSE) and the MMSE decoder attains the MMSE. On the continuous schedule the start
    matches the codec's noise exactly, so the MMSE is that of X given the codec's output,
    ``lam s2 / (lam + s2)`` per DCT coefficient; on the table, fresh noise completes the state and the
    MMSE is that at the start index (at most 1% above)."""
    oracle, lam, x, y, s2 = _gaussian_case(schedule, seed=stat_seed(2024))
    z, t = start_state(schedule, y, s2, seed=stat_seed(11))
    model = ReverseModel(oracle, variance="exact")
    mmse_y = float(np.mean(lam * s2 / (lam + s2)))
    mmse_t = float(np.mean(oracle.x0_variance(t)))
    assert mmse_y <= mmse_t * (1 + 1e-9) and mmse_t <= 1.01 * mmse_y
    if not schedule.discrete:
        assert abs(mmse_t / mmse_y - 1) < 1e-9
    zc = model.to_coords(z)
    ancestral = reconstruct(model, zc, t, method="ancestral", steps=6, seed=stat_seed(5))
    mmse = reconstruct(model, zc, t, method="mmse")
    assert_mean(np.mean((ancestral - x) ** 2, axis=(1, 2)), 2 * mmse_t, what="ancestral refinement MSE")
    assert_mean(np.mean((mmse - x) ** 2, axis=(1, 2)), mmse_t, what="MMSE refinement MSE")


def test_gaussian_check_can_fail() -> None:
    """A start at the wrong level (the codec's noise taken four times larger) is visibly off the
    MMSE: the Gaussian check has power against a mismatched start."""
    schedule = ContinuousVP()
    oracle, lam, x, y, s2 = _gaussian_case(schedule)
    z, t = start_state(schedule, y, s2, scale=4.0, seed=11)
    mmse = reconstruct(ReverseModel(oracle, variance="exact"), z, t, method="mmse")
    assert np.mean((mmse - x) ** 2) > 1.2 * float(np.mean(lam * s2 / (lam + s2)))


def _jpeg(image: np.ndarray, subsampling: str, **options: object) -> bytes:
    """Pillow's JPEG; with ``qtables`` no ``quality`` (libjpeg would scale the tables by it)."""
    buffer = io.BytesIO()
    options = options if "qtables" in options else {"quality": 40, **options}
    Image.fromarray(image).save(buffer, "JPEG", subsampling=subsampling, **options)
    return buffer.getvalue()


def _planes(data: bytes, components: int) -> list[np.ndarray]:
    """The first ``components`` components of a JPEG file from its coefficients: dequantized, inverse
    DCT (float), level-shifted and cropped to the image."""
    import scipy.fft

    coefficients = read_coefficients(data)
    height, width = coefficients.size
    planes = []
    for c in coefficients.components[:components]:
        blocks = scipy.fft.idctn(c.blocks * c.table, axes=(-2, -1), norm="ortho") + 128
        planes.append(np.moveaxis(blocks, 2, 1).reshape(c.blocks.shape[0] * 8, -1)[:height, :width])
    return planes


RESTARTS = ({}, {"restart_marker_blocks": 3}, {"restart_marker_rows": 1})
"""Pillow's options for no restart intervals, intervals of 3 MCUs, and of one MCU row."""


@pytest.mark.parametrize("restart", RESTARTS)
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4", "gray"])
def test_coefficient_reader_matches_pillows_decode(subsampling: str, restart: dict[str, int]) -> None:
    """Every component Pillow's decoder gives at full resolution (4:2:0 chroma it upsamples)
    equals the inverse DCT of the coefficients to libjpeg's rounding, with and without restart
    intervals; the restart markers change the file's bytes, never the coefficients."""
    gray = subsampling == "gray"
    image = smooth_image(40, 56, channels=1 if gray else 3)
    data = _jpeg(image, "4:4:4" if gray else subsampling, optimize=True, **restart)
    assert (b"\xff\xdd" in data and b"\xff\xd0" in data) == bool(restart)
    with Image.open(io.BytesIO(data)) as picture:
        picture.draft("L" if gray else "YCbCr", picture.size)
        decoded = np.asarray(picture).reshape(40, 56, -1)
    planes = _planes(data, 3 if subsampling == "4:4:4" else 1)
    for c, plane in enumerate(planes):
        assert np.abs(plane - decoded[..., c]).max() <= 1.0  # libjpeg's integer IDCT, rounded to 8 bits
    if restart:
        plain = read_coefficients(_jpeg(image, "4:4:4" if gray else subsampling, optimize=True))
        pairs = zip(read_coefficients(data).components, plain.components, strict=True)
        assert all(np.array_equal(a.blocks, b.blocks) for a, b in pairs)
    with pytest.raises(ValueError, match="sequential"):
        read_coefficients(_jpeg(image, "4:4:4" if gray else subsampling, progressive=True))


def _forge(data: bytes, dc: object = None, ac: object = None, entropy: bytes | None = None) -> bytes:
    """A one-scan JPEG file with its Huffman tables' symbols mapped by ``dc`` and ``ac`` (symbol to
    symbol) and, with ``entropy``, its entropy-coded data replaced."""
    import struct

    out, i = bytearray(data[:2]), 2
    while True:
        marker, (length,) = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])
        segment = bytearray(data[i:i + 2 + length])
        j = 4
        while marker == 0xC4 and j < len(segment):
            n, f = sum(segment[j + 1:j + 17]), dc if segment[j] >> 4 == 0 else ac
            if f is not None:
                segment[j + 17:j + 17 + n] = bytes(f(s) for s in segment[j + 17:j + 17 + n])
            j += 17 + n
        out += segment
        i += 2 + length
        if marker == 0xDA:
            return bytes(out) + (data[i:] if entropy is None else entropy + b"\xff\xd9")


@pytest.mark.parametrize("refusal,forgery", [
    ("DC magnitude category 12", {"dc": lambda s: 12}),
    ("AC magnitude category 11", {"ac": lambda s: 0x0B}),
    ("more than 64 coefficients", {"ac": lambda s: 0xE1}),  # runs of 14 zeros past the block's end
    ("invalid Huffman code", {"entropy": b"\xff\x00" * 4}),  # 32 one bits: no code of the tables
    ("ends inside a block", {"dc": lambda s: 11, "entropy": b"\x00"}),  # 11 bits after a 2-bit code
])
def test_coefficient_reader_refuses_malformed_scans(refusal: str, forgery: dict[str, object]) -> None:
    data = _jpeg(smooth_image(16, 16, channels=1), "4:4:4")
    read_coefficients(data)
    with pytest.raises(ValueError, match=refusal):
        read_coefficients(_forge(data, **forgery))


def test_coefficient_reader_refuses_a_missing_restart_interval() -> None:
    data = _jpeg(smooth_image(32, 32), "4:2:0", restart_marker_blocks=1)
    with pytest.raises(ValueError, match="restart interval missing"):
        read_coefficients(data[:data.index(b"\xff\xd0")] + b"\xff\xd9")


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_projection_lands_in_the_cells_and_is_idempotent(subsampling: str) -> None:
    image = smooth_image(48, 64)
    data = _jpeg(image, subsampling)
    cells = JpegCells.from_jpeg(data)
    noisy = np.moveaxis(image, -1, 0) + np.random.default_rng(0).normal(0, 20, (3, 48, 64))
    projected = cells(noisy)
    for f, comp in zip(cells.block_coefficients(projected), cells.coefficients.components, strict=True):
        assert np.all(np.abs(f / comp.table - comp.blocks) <= 0.5 + 1e-9)
    assert np.abs(cells(projected) - projected).max() < 1e-9


@pytest.fixture(scope="module")
def refine(tmp_path_factory: pytest.TempPathFactory) -> RefineCodec:
    return RefineCodec(load_model(save_tiny_model(tmp_path_factory.mktemp("m"))), progress=False)


def test_decoding_is_deterministic_for_a_seed(refine: RefineCodec) -> None:
    image = smooth_image(16, 16)
    for codec in ("jpeg-420", "webp"):
        out = refine.compress(image, codec, quality=30, seed=7)
        assert out.bpp == 8 * len(out.data) / 256
        first = refine.decompress(out.data, solver_steps=4)
        assert np.array_equal(first.image, refine.decompress(out.data, solver_steps=4).image)
        assert not np.array_equal(first.image, refine.decompress(out.data, solver_steps=4, seed=8).image)
        assert np.array_equal(first.plain, refine.decompress(out.data, method="mmse").plain)


def test_file_for_another_model_is_refused(refine: RefineCodec, tmp_path: object) -> None:
    data = refine.compress(smooth_image(16, 16), "jpeg-444", quality=50).data
    other = RefineCodec(load_model(save_tiny_model(tmp_path, seed=9)), progress=False)
    with pytest.raises(SideInfoError, match="another model"):
        other.decompress(data)
    with pytest.raises(ValueError, match="needs a JPEG file"):
        refine.decompress(refine.compress(smooth_image(16, 16), "webp", quality=50).data, project=True)


@pytest.mark.parametrize("subsampling,codec", [("4:2:0", "jpeg-420"), ("4:4:4", "jpeg-444")])
def test_projected_refinement_reencodes_into_the_same_cells(refine: RefineCodec, subsampling: str,
                                                            codec: str) -> None:
    """Re-encoding the refined image with the file's tables gives the file's coefficients up to
    rounding; without the projection the (random) tiny model moves some of them out."""
    image = smooth_image(32, 32)
    out = refine.compress(image, codec, quality=50)
    _, payload = unpack(out.data)
    with Image.open(io.BytesIO(payload)) as picture:
        tables = picture.quantization
    original = read_coefficients(payload).components

    def agreement(project: bool) -> tuple[float, int]:
        refined = refine.decompress(out.data, solver_steps=4, project=project).image
        again = read_coefficients(_jpeg(refined, subsampling, qtables=tables)).components
        diffs = np.concatenate([(a.blocks - b.blocks).ravel() for a, b in zip(original, again, strict=True)])
        return float(np.mean(diffs == 0)), int(np.abs(diffs).max())

    same, worst = agreement(True)
    assert same >= 0.99 and worst <= 1
    assert agreement(False)[0] < 0.99


def test_side_information_and_start_survive_perturbed_transcendentals() -> None:
    """docs/determinism.md: the error level (bytes of the file) and the start index (a decoder's
    discrete choice) do not move when every transcendental result moves by an ulp."""
    from rcc.perturb import perturbed_transcendentals

    rng = np.random.default_rng(5)
    errors = [rng.normal(0, s, (3, 16, 16)) for s in (1e-3, 0.02, 0.1, 0.7)]
    table = DiscreteVP.linear()

    def decisions() -> list[tuple[int, float]]:
        levels = [error_level(e) for e in errors]
        return [(q, start_time(table, level_variance(q))) for q in levels]

    reference = decisions()
    for seed in (0, 1, 2):
        with perturbed_transcendentals(seed):
            assert decisions() == reference
