"""DiffC encoder and decoders end to end with the real Gaussian channel, on the exact Gaussian oracle."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from diffc.container import ContainerError, encode_header, encode_records, read_container, truncate
from diffc.decoder import _check_shape, decode, decode_state
from diffc.diffusion.denoisers import DCT2Basis, GaussianOracle, power_law_spectrum
from diffc.diffusion.samplers import reconstruct
from diffc.diffusion.schedules import ContinuousVP
from diffc.diffusion.spacing import uniform_log_snr
from diffc.encoder import encode, quantized
from rcc.gaussian import ChannelSpec, GaussianChannel

VP = ContinuousVP("cosine", -15.0, 15.0)
SHAPE = (8, 8)
LAM = power_law_spectrum(SHAPE, exponent=2.0)
ORACLE = GaussianOracle(VP, LAM, basis=DCT2Basis())
SCHEDULE = quantized(uniform_log_snr(VP, 6, -4.0, 1.0))  # the times the file writes
CHANNEL = GaussianChannel(ChannelSpec(chunk_bits=10, headroom_bits=2), backend="numpy")
SEED = 77
X = DCT2Basis().inverse(np.sqrt(LAM) * np.random.default_rng(0).standard_normal(SHAPE))


@pytest.fixture(scope="module")
def encoded():  # noqa: ANN201
    return encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0))


def test_rate_is_counted_on_the_file(encoded) -> None:  # noqa: ANN001
    c = read_container(encoded.data)
    assert c.n_steps == len(SCHEDULE) == len(encoded.steps)
    assert encoded.file_bits == 8 * len(encoded.data) == encoded.bits_through(len(SCHEDULE))
    for k in range(1, len(SCHEDULE) + 1):
        prefix = truncate(encoded.data, k)
        assert encoded.bits_through(k) == 8 * len(prefix)
        assert decode(prefix, ORACLE, method="mmse").file_bits == 8 * len(prefix)
    # chunked coding spends chunk_bits + headroom_bits per chunk of at most chunk_bits of KL
    assert encoded.file_bits > encoded.ideal_bits > 0


def test_encoder_statistics_match_the_decoder_state(encoded) -> None:  # noqa: ANN001
    """Step k's KL is D = (SNR_k - SNR_{k-1}) ||x - x_hat_0(Z_{k-1})||^2 / (2 ln 2), with Z_{k-1} as
    *decoded from the file prefix* -- the encoder continued from the decoder's state."""
    snrs = np.exp(SCHEDULE.log_snrs())
    for k in range(1, len(SCHEDULE)):
        state = decode_state(truncate(encoded.data, k), ORACLE)
        x0 = state.model.predict(state.z, state.t)[1]
        d = 0.5 * (snrs[k] - snrs[k - 1]) * np.sum((state.model.to_coords(X) - x0) ** 2) / math.log(2)
        assert encoded.steps[k].kl_bits == pytest.approx(d, rel=1e-9)


def test_decoding_is_deterministic_and_progressive(encoded) -> None:  # noqa: ANN001
    errors = []
    for k in range(1, len(SCHEDULE) + 1):
        prefix = truncate(encoded.data, k)
        x_hat = decode(prefix, ORACLE, method="mmse").image
        np.testing.assert_array_equal(x_hat, decode(prefix, ORACLE, method="mmse").image)
        errors.append(float(np.sum((x_hat - X) ** 2)))
    assert errors[-1] < errors[0]
    a1 = decode(encoded.data, ORACLE, method="ancestral", steps=5).image
    np.testing.assert_array_equal(a1, decode(encoded.data, ORACLE, method="ancestral",
                                             steps=5).image)
    a2 = decode(encoded.data, ORACLE, method="ancestral", steps=5, noise_seed=1).image
    assert not np.array_equal(a1, a2)
    for method in ("ddim", "heun", "dpmpp_2m"):
        f = decode(encoded.data, ORACLE, method=method, steps=8)
        assert f.image.shape == SHAPE and np.all(np.isfinite(f.image)) and f.n_steps == len(SCHEDULE)
    eta0 = decode(encoded.data, ORACLE, method="eta", eta=0.0, steps=8).image
    np.testing.assert_array_equal(eta0, decode(encoded.data, ORACLE, method="ddim", steps=8).image)


def _resigned(data: bytes, **changes: object) -> bytes:
    """``data`` with header fields changed and every record's check recomputed (a forged header)."""
    c = read_container(data)
    head = encode_header(replace(c.header, **changes))
    return head + encode_records(head, c.messages)


class _NoPosterior:
    """The oracle's epsilon predictions without its posterior variance (as a network has)."""

    schedule = VP

    def predict_eps(self, z: np.ndarray, t: float) -> np.ndarray:
        return ORACLE.predict_eps(z, t)

    def fingerprint(self) -> bytes:
        return ORACLE.fingerprint()


def test_wrong_model_or_forged_header_is_a_container_error(encoded) -> None:  # noqa: ANN001
    other_model = GaussianOracle(VP, 2 * LAM, basis=DCT2Basis())
    with pytest.raises(ContainerError, match="wrong model"):
        decode(encoded.data, other_model)
    with pytest.raises(ContainerError, match="outside this model's schedule"):
        decode(_resigned(encoded.data, first_time=2**16 + 1), ORACLE)
    with pytest.raises(ContainerError, match="index grid, this model's schedule needs the dyadic grid"):
        decode(_resigned(encoded.data, time_grid="index"), ORACLE)
    # issue 24: the exact-variance flag forged on a file for a model without a posterior variance
    forged = _resigned(encoded.data, variance="exact")
    with pytest.raises(ContainerError, match="reverse process is not one this model has"):
        decode_state(forged, _NoPosterior())
    with pytest.raises(ValueError, match="channel parameters"):
        decode(encoded.data, ORACLE,
               channel=GaussianChannel(ChannelSpec(chunk_bits=11, headroom_bits=2)))


def test_stop_rules(encoded) -> None:  # noqa: ANN001
    full = encoded
    by_step = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), stop_step=2)
    assert len(by_step.steps) == 2 and read_container(by_step.data).header.stop_step == 2
    assert _same_steps(by_step.data, full.data, 2)
    budget = full.bits_through(3) - 1
    by_bits = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), max_bits=budget)
    assert by_bits.file_bits <= budget and _same_steps(by_bits.data, full.data, 2)
    psnrs = [_psnr(decode(truncate(full.data, k), ORACLE, method="mmse").image)
             for k in range(1, len(SCHEDULE) + 1)]
    # PSNR need not grow at every step (a channel sample can be unlucky): the rule is "the first
    # step that reaches the target"
    target = psnrs[2] - 1e-9
    first = next(k for k, psnr in enumerate(psnrs, start=1) if psnr >= target)
    by_psnr = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), target_psnr=target)
    assert _same_steps(by_psnr.data, full.data, first)
    with pytest.raises(ValueError, match="at most one"):
        encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), stop_step=1, max_bits=1e6)
    with pytest.raises(ValueError, match="below the first step"):
        encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), max_bits=100)


def _same_steps(stopped: bytes, full: bytes, k: int) -> bool:
    """An encoder stopped after k steps writes the full file's first k steps (only the header's
    stop step and step times differ from the full file's prefix: they list k steps, in no more bytes)."""
    prefix = truncate(full, k)
    a, b = read_container(stopped), read_container(prefix)
    return (a.messages == b.messages and a.header.stop_step == k and a.header_bytes <= b.header_bytes
            and len(stopped) - a.header_bytes == len(prefix) - b.header_bytes)


def _psnr(x_hat: np.ndarray) -> float:
    return 10 * math.log10(8.0**2 / float(np.mean((x_hat - X) ** 2)))


def test_exact_variance_and_clipping_round_trip() -> None:
    enc = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=3, value_range=(-1.0, 1.0), variance="exact", clip=True)
    h = read_container(enc.data).header
    assert h.variance == "exact" and h.clip and h.value_range == (-1.0, 1.0)
    state = decode_state(enc.data, ORACLE)
    x_hat = reconstruct(state.model, state.z, state.t, method="mmse")
    assert np.abs(x_hat).max() <= 1.0 + 1e-12  # clipped in data coordinates, up to DCT round-off
    # the exact-variance prior of step 0 is the true marginal, whatever the variance mode
    assert enc.steps[0].kl_bits == pytest.approx(
        encode(X, ORACLE, SCHEDULE, CHANNEL, seed=3, value_range=(-1.0, 1.0), stop_step=1).steps[0].kl_bits)


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="finite"):
        encode(np.full(SHAPE, np.nan), ORACLE, SCHEDULE, CHANNEL, seed=0, value_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="different VP schedule"):
        encode(X, ORACLE, uniform_log_snr(ContinuousVP("linear_log_snr"), 2, -2.0, 2.0), CHANNEL, seed=0,
               value_range=(0.0, 1.0))
    state = decode_state(encode(X, ORACLE, SCHEDULE, CHANNEL, seed=0, value_range=(0.0, 1.0),
                                stop_step=1).data, ORACLE)
    with pytest.raises(ValueError, match="eta"):
        reconstruct(state.model, state.z, state.t, method="eta")
    with pytest.raises(ValueError, match="eta"):
        reconstruct(state.model, state.z, state.t, method="ddim", eta=0.5)
    with pytest.raises(ValueError, match="method"):
        reconstruct(state.model, state.z, state.t, method="sde")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"stop_step": 1.5}, "stop_step must be an integer"),
    ({"stop_step": 7}, r"stop_step must be in \[1, 6\]"),
    ({"max_bits": float("nan")}, "max_bits must be a finite number"),
    ({"target_psnr": float("nan")}, "target_psnr must be a finite number"),
    ({"target_psnr": "30"}, "target_psnr must be a finite number"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": -1}, "seed must be in"),
    ({"seed": 2**64}, "seed must be in"),
    ({"value_range": (0.0, float("nan"))}, "value_range must be a finite number"),
    ({"value_range": None}, "value_range must be a pair"),
    ({"value_range": (1.0, 1.0)}, "low < high"),
    ({"clip": "yes"}, "clip must be a bool"),
    ({"variance": "wide"}, "variance"),
])
def test_bad_encoder_arguments_are_value_errors(kwargs: dict, match: str) -> None:
    args = {"seed": 0, "value_range": (-4.0, 4.0), **kwargs}
    with pytest.raises(ValueError, match=match):
        encode(X, ORACLE, SCHEDULE, CHANNEL, **args)


def test_empty_or_oversized_inputs_and_float_counts_are_value_errors(encoded) -> None:  # noqa: ANN001
    for x in (np.zeros((0, 8)), np.zeros((1,) * 9)):
        with pytest.raises(ValueError, match="dimension"):
            encode(x, ORACLE, SCHEDULE, CHANNEL, seed=0, value_range=(-4.0, 4.0))
    with pytest.raises(ValueError, match="n_steps must be an integer"):
        encoded.bits_through(2.0)


def test_bad_decoder_arguments_are_value_errors(encoded) -> None:  # noqa: ANN001
    state = decode_state(truncate(encoded.data, 1), ORACLE)
    for steps in (1.5, 0, 10**10, True):
        with pytest.raises(ValueError, match="steps must be"):
            reconstruct(state.model, state.z, state.t, method="ddim", steps=steps)
    with pytest.raises(ValueError, match="seed must be"):
        reconstruct(state.model, state.z, state.t, seed=-1)
    with pytest.raises(ValueError, match="eta"):
        reconstruct(state.model, state.z, state.t, method="eta", eta=float("nan"))
    with pytest.raises(ValueError, match="method"):
        reconstruct(state.model, state.z, state.t, method=["mmse"])
    with pytest.raises(ValueError, match="noise|seed must be"):
        decode(encoded.data, ORACLE, noise_seed=0.5)


def test_the_decoder_checks_the_shape_before_allocating(encoded) -> None:  # noqa: ANN001
    with pytest.raises(ContainerError, match="8-channel data .* codes 3 channels"):
        decode(encoded.data, ORACLE, channels=3)
    with pytest.raises(ContainerError, match="more than max_values=63"):
        decode(encoded.data, ORACLE, max_values=63)
    other = GaussianOracle(VP, power_law_spectrum((8, 9), exponent=2.0), basis=DCT2Basis())
    with pytest.raises(ContainerError, match=r"shape \(8, 8\) is not the model's \(8, 9\)"):
        _check_shape((8, 8), other, None, 2**20)


def test_a_truncated_file_says_so(encoded) -> None:  # noqa: ANN001
    full = decode(encoded.data, ORACLE, method="mmse")
    prefix = decode(truncate(encoded.data, 2), ORACLE, method="mmse")
    assert not full.truncated and (full.n_steps, full.stop_step) == (6, 6)
    assert prefix.truncated and (prefix.n_steps, prefix.stop_step) == (2, 6)


def test_a_bit_budget_gives_up_early_on_a_step_that_cannot_fit(encoded, monkeypatch) -> None:  # noqa: ANN001
    """The channel may stop searching a step once its message is proven too long; the file is the
    one an encoder that searched every step to the end writes."""
    send, outcomes = GaussianChannel.send, []

    def recorded(self, plan, *, max_bytes=None):  # noqa: ANN001, ANN202
        outcomes.append(send(self, plan, max_bytes=max_bytes))
        return outcomes[-1]

    def patient(self, plan, *, max_bytes=None):  # noqa: ANN001, ANN202, ARG001
        return send(self, plan)

    gave_up = 0
    for budget in (encoded.bits_through(2) + 8, encoded.bits_through(3), encoded.bits_through(4) + 100):
        monkeypatch.setattr(GaussianChannel, "send", recorded)
        outcomes.clear()
        limited = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), max_bits=budget)
        gave_up += outcomes[-1] is None
        monkeypatch.setattr(GaussianChannel, "send", patient)
        full = encode(X, ORACLE, SCHEDULE, CHANNEL, seed=SEED, value_range=(-4.0, 4.0), max_bits=budget)
        assert limited.data == full.data and limited.file_bits <= budget
    assert gave_up >= 2
