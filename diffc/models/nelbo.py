"""The negative ELBO of a discrete-time diffusion model in bits per dimension: DiffC's lossless rate.

For 8-bit images ``x`` in ``[-1, 1]`` and a diffusers scheduler with alpha-bar table ``a_0 .. a_{T-1}``
(index ``i`` here is ``t = i + 1`` in Ho et al. 2020, "Denoising diffusion probabilistic models",
section 3.3 and eq. 5), the negative ELBO is

    L_T + sum_{i=1}^{T-1} L_i + L_0,
    L_T = KL(q(z_{T-1} | x) || N(0, I))                      (exact, closed form)
    L_i = KL(q(z_{i-1} | z_i, x) || p(z_{i-1} | z_i))
        = 1/2 (SNR_{i-1} - SNR_i) ||x - x_hat(z_i, i)||^2     (p with the posterior variance, as DiffC)

``x_hat`` is the network's estimate converted from its prediction type and clipped to the data range
exactly as :mod:`diffc.models.pixel` does for DiffC (clipping projects onto a box that contains ``x``,
so it never increases ``||x - x_hat||``).
    L_0 = -log p(x | z_0): the discretized Gaussian of Ho et al. eq. 13 around x_hat(z_0, 0) with
          variance beta_0 = 1 - a_0, on the 256 bins of width 2/255 (the outer bins extend to +-inf).

With the posterior variance on both sides ``L_i`` is exactly the number of nats a DiffC step from
``Z_i`` to ``Z_{i-1}`` costs (Theis et al. 2022; Kingma et al. 2021, "Variational diffusion models",
for the SNR form), so the negative ELBO is the rate of lossless DiffC: the cost of sending every
step down to ``Z_0`` plus an entropy-coded ``x`` given ``Z_0``. It is an ideal rate (no header, no
channel-simulation overhead).

Estimation: ``L_T`` is exact; ``L_0`` and the sum over ``i`` are Monte Carlo, each draw one ``z_0``
and one level ``i ~ r(i)`` (``L_i / r(i)`` estimates the sum), with ``r`` proportional to the increment
of ``log(1 + c SNR)`` (``c`` the pixel variance of the crops; :func:`diffc.models.training.
level_weights`), which keeps the importance weights bounded. Every draw is an unbiased estimate of
a crop's negative ELBO; the standard error is that of the mean over the fixed set of crops,
``sqrt(sum_c s_c^2 / K) / C`` for ``C`` crops with ``K`` draws and per-crop sample variances ``s_c^2``.

The crops tile each held-out photo (:func:`diffc.models.data.held_out_photos`) without overlap from
its top-left corner (the remainder at the right and bottom is dropped). PNG (Pillow, level 9) and
lossless WebP (Pillow, method 6) are measured on the same crops, one file per crop, headers
included, and on the whole photos for reference.

The codec's rate (``codec=True``, ``--codec``): lossy DiffC sends Z only at the few times
``t_0 = T - 1 > t_1 > ... > t_{K-1}`` of the image codec's schedule
(:func:`diffc.diffusion.spacing.image_schedule`, :data:`~diffc.diffusion.spacing.DEFAULT_STEPS`
steps for the crop size), each step from ``t_k`` to ``t_{k+1}`` costing
``1/2 (SNR_{t_{k+1}} - SNR_{t_k}) ||x - x_hat(z_{t_k}, t_k)||^2`` nats and the first ``Z_{t_0}`` the exact
``L_T``. Their sum is the ideal rate of a file of all K steps (no header, no channel-simulation
overhead; the codec's real files cost more). Each step's term is estimated from one draw of
``z_{t_k}`` from ``q(z_{t_k} | x)`` (the term's expectation depends on that marginal only), so a crop
has one estimate and the standard error is over crops; a paired difference of two models on the same
seed shares every ``z``.

Run ``python -m diffc.models.nelbo --model diffc/models/default --json nelbo.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffc.models.windowed_attention import read_window, use_windows

if TYPE_CHECKING:
    import torch

LOG2 = math.log(2.0)
BIN = 1.0 / 255.0  # half a bin of 8-bit data in [-1, 1]


def tile(image: np.ndarray, size: int) -> list[np.ndarray]:
    """Non-overlapping ``size`` x ``size`` crops from the top-left corner (remainders dropped)."""
    h, w = image.shape[:2]
    return [image[r:r + size, c:c + size] for r in range(0, h - size + 1, size)
            for c in range(0, w - size + 1, size)]


def codec_bits(images: list[np.ndarray], codec: str) -> np.ndarray:
    """The size in bits of a lossless PNG or WebP file of each image (headers included)."""
    from PIL import Image

    if codec not in ("png", "webp"):
        raise ValueError(f"unknown codec {codec}")
    bits = []
    for image in images:
        buf = io.BytesIO()
        if codec == "png":
            Image.fromarray(image).save(buf, format="PNG", compress_level=9, optimize=True)
        else:
            Image.fromarray(image).save(buf, format="WEBP", lossless=True, quality=100, method=6)
        bits.append(8 * buf.tell())
    return np.array(bits, dtype=np.int64)


def codec_bpd(images: list[np.ndarray], codec: str) -> float:
    """Bits per dimension of lossless PNG or WebP files of each image, over all of them."""
    return float(codec_bits(images, codec).sum() / sum(image.size for image in images))


def discretized_gaussian_nll(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """``-log P(x)`` per image (nats) for 8-bit ``x`` in [-1, 1] under N(mean, std^2) binned as in
    Ho et al. eq. 13 (outer bins open-ended); float64, probabilities floored at 1e-12 as there."""
    import torch

    x, mean = x.double(), mean.double()
    upper = (x + BIN - mean) / std
    lower = (x - BIN - mean) / std
    log_cdf_upper = torch.special.log_ndtr(upper)
    log_sf_lower = torch.special.log_ndtr(-lower)
    mid = (torch.special.ndtr(upper) - torch.special.ndtr(lower)).clamp_min(1e-12).log()
    logp = torch.where(x < -1 + 1e-6, log_cdf_upper, torch.where(x > 1 - 1e-6, log_sf_lower, mid))
    return -logp.flatten(1).sum(1)


class DiffusionModel:
    """A diffusers UNet and scheduler folder as the ``x_hat(z_i, i)`` of the ELBO."""

    def __init__(self, path: Path, device: str = "cpu"):
        from diffusers import DDPMScheduler, UNet2DModel

        path = Path(path)
        # The codec's network: the folder's attention window, if it sets one, applies here too.
        unet = UNet2DModel.from_pretrained(path / "unet", local_files_only=True, low_cpu_mem_usage=False)
        self.unet = use_windows(unet, read_window(path / "unet")).to(device).eval()
        scheduler = DDPMScheduler.from_pretrained(path / "scheduler", local_files_only=True)
        self.prediction = scheduler.config.prediction_type
        # As diffc.models.diffusers_folder: pixel models always clip x0 to the data range, the
        # scheduler's own range when it sets clip_sample.
        clip = scheduler.config.clip_sample
        self.clip_range = float(scheduler.config.get("clip_sample_range", 1.0)) if clip else 1.0
        self.alphas_cumprod = scheduler.alphas_cumprod.double()
        self.device = device

    def x_hat(self, z: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        import torch

        ab = self.alphas_cumprod[i].view(-1, 1, 1, 1)
        alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
        with torch.no_grad():
            out = self.unet(z.float().to(self.device), i.to(self.device)).sample.double().cpu()
        if self.prediction == "v_prediction":
            x = alpha * z - sigma * out
        elif self.prediction == "epsilon":
            x = (z - sigma * out) / alpha
        elif self.prediction == "sample":
            x = out
        else:
            raise ValueError(f"unknown prediction_type {self.prediction}")
        # DiffC clips x0 identically on both sides, so the p whose ELBO is its rate does too.
        return x.clamp(-self.clip_range, self.clip_range)


def nelbo_draws(model: DiffusionModel, x: torch.Tensor, draws: int, gen: torch.Generator,
                level_prob: torch.Tensor) -> torch.Tensor:
    """``draws`` unbiased estimates (nats) of each image's negative ELBO: shape (draws, batch)."""
    import torch

    ab = model.alphas_cumprod
    snr = ab / (1 - ab)
    x = x.double()
    n = x.shape[0]
    prior = prior_kl(ab[-1], x)
    r = level_prob[1:] / level_prob[1:].sum()  # levels 1 .. T-1 carry the KL terms
    out = []
    for _ in range(draws):
        zero = torch.zeros(n, dtype=torch.long)
        eps0 = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        z0 = ab[0].sqrt() * x + (1 - ab[0]).sqrt() * eps0
        decoder = discretized_gaussian_nll(x, model.x_hat(z0, zero), float((1 - ab[0]).sqrt()))
        i = 1 + torch.multinomial(r, n, replacement=True, generator=gen)
        eps = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        abi = ab[i].view(-1, 1, 1, 1)
        z = abi.sqrt() * x + (1 - abi).sqrt() * eps
        err = (x - model.x_hat(z, i)).pow(2).flatten(1).sum(1)
        kl = 0.5 * (snr[i - 1] - snr[i]) * err
        out.append(prior + decoder + kl / r[i - 1])
    return torch.stack(out)


def prior_kl(ab_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``KL(q(z_t | x) || N(0, I))`` in nats per image, for ``alpha-bar_t = ab_t`` (exact)."""
    import torch

    return 0.5 * (ab_t * x.pow(2) - ab_t - torch.log1p(-ab_t)).flatten(1).sum(1)


def codec_rate_draws(model: DiffusionModel, x: torch.Tensor, times: list[int],
                     gen: torch.Generator) -> torch.Tensor:
    """One estimate (nats) of each term of the codec's rate at ``times`` (module doc): ``L_T`` at
    ``times[0]`` and the steps after it, shape (len(times), batch)."""
    import torch

    ab = model.alphas_cumprod
    snr = ab / (1 - ab)
    x = x.double()
    out = [prior_kl(ab[times[0]], x)]
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        eps = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        z = ab[t].sqrt() * x + (1 - ab[t]).sqrt() * eps
        err = (x - model.x_hat(z, torch.full((x.shape[0],), t))).pow(2).flatten(1).sum(1)
        out.append(0.5 * (snr[t_next] - snr[t]) * err)
    return torch.stack(out)


def evaluate(model_path: Path, size: int = 64, draws: int = 8, seed: int = 0, batch: int = 64,
             device: str = "cpu", progress: bool = True, photos: dict[str, np.ndarray] | None = None,
             codec: bool = False) -> dict:
    """NELBO (bpd, with its Monte Carlo standard error) beside PNG and lossless WebP on the tiled
    held-out photos (or ``photos``), and with ``codec`` the codec's rate; see the module docstring for
    what is exact and estimated. ``draws`` is at least 2: the standard error comes from the spread of
    each crop's draws."""
    import torch
    from tqdm.auto import tqdm

    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ValueError(f"draws must be an integer >= 2 (the standard error needs two draws per crop), "
                         f"got {draws!r}")

    from diffc.models.data import held_out_photos
    from diffc.models.training import codec_times, level_weights

    started = time.monotonic()
    photos = held_out_photos() if photos is None else photos
    crops = {name: tile(image, size) for name, image in photos.items()}
    flat = [c for cs in crops.values() for c in cs]
    x_all = torch.from_numpy(np.stack(flat)).permute(0, 3, 1, 2).double() * (2 / 255) - 1
    model = DiffusionModel(model_path, device)
    level_prob, _ = level_weights(model.alphas_cumprod, float(x_all.var(dim=(0, 2, 3)).mean()))
    gen = torch.Generator().manual_seed(seed)
    estimates = []
    for start in tqdm(range(0, len(flat), batch), disable=not progress, desc="nelbo"):
        estimates.append(nelbo_draws(model, x_all[start:start + batch], draws, gen, level_prob.double()))
    est = torch.cat(estimates, dim=1) / (LOG2 * 3 * size * size)  # bits per dimension
    per_crop_mean, per_crop_var = est.mean(0), est.var(0, unbiased=True)
    n_crops = est.shape[1]
    stderr = float((per_crop_var.sum() / draws).sqrt() / n_crops)
    offsets = np.cumsum([0] + [len(cs) for cs in crops.values()])
    dims = 3 * size * size
    bits = {codec: codec_bits(flat, codec) for codec in ("png", "webp")}
    per_photo = {}
    for k, (name, cs) in enumerate(crops.items()):
        part = slice(offsets[k], offsets[k + 1])
        if not cs:  # smaller than one crop: nothing measured (JSON has no NaN)
            per_photo[name] = {"crops": 0}
            continue
        per_photo[name] = {
            "crops": len(cs),
            "nelbo_bpd": float(per_crop_mean[part].mean()),
            "png_bpd": float(bits["png"][part].sum() / (len(cs) * dims)),
            "webp_bpd": float(bits["webp"][part].sum() / (len(cs) * dims)),
        }
    result = {
        "model": str(model_path),
        "crop_size": size,
        "crops": n_crops,
        "draws_per_crop": draws,
        "seed": seed,
        "nelbo_bpd": float(per_crop_mean.mean()),
        "nelbo_bpd_stderr": stderr,
        "png_bpd": float(bits["png"].sum() / (n_crops * dims)),
        "webp_lossless_bpd": float(bits["webp"].sum() / (n_crops * dims)),
        "whole_photo_png_bpd": codec_bpd(list(photos.values()), "png"),
        "whole_photo_webp_lossless_bpd": codec_bpd(list(photos.values()), "webp"),
        "per_photo": per_photo,
        "per_crop_bpd": per_crop_mean.tolist(),
    }
    if codec:
        times = codec_times(model.alphas_cumprod, size)
        gen = torch.Generator().manual_seed(seed)
        terms = torch.cat([codec_rate_draws(model, x_all[start:start + batch], times, gen)
                           for start in tqdm(range(0, len(flat), batch), disable=not progress,
                                             desc="codec rate")],
                          dim=1) / (LOG2 * dims)
        total = terms.sum(0)
        result["codec"] = {
            "times": times,
            "rate_bpd": float(total.mean()),
            "rate_bpd_stderr": _stderr(total.numpy()),
            "step_bpd": terms.mean(1).tolist(),
            "per_crop_bpd": total.tolist(),
            "per_crop_first_step_bpd": terms[1].tolist(),
        }
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


# What two runs must share for their draws to be the same (the draws depend on nothing else).
SAME_DRAWS = ("crops", "crop_size", "draws_per_crop", "seed")


def paired_difference(result: dict, baseline: dict) -> dict:
    """The mean per-crop NELBO difference ``result - baseline`` (bpd) of two :func:`evaluate` runs on
    the same crops, draws and seed, with its standard error over crops: the shared draws cancel most
    of the Monte Carlo noise that each run's own standard error carries."""
    if any(result[k] != baseline[k] for k in SAME_DRAWS):
        raise ValueError(f"paired runs need the same {', '.join(SAME_DRAWS)}")
    out = _paired(result["per_crop_bpd"], baseline["per_crop_bpd"])
    if "codec" in result and "codec" in baseline:
        if result["codec"]["times"] != baseline["codec"]["times"]:
            raise ValueError("paired codec rates need the same steps (the image schedule changed: "
                             f"{baseline['codec']['times'][:3]}... against "
                             f"{result['codec']['times'][:3]}...)")
        out["codec_rate"] = _paired(result["codec"]["per_crop_bpd"], baseline["codec"]["per_crop_bpd"])
        out["codec_first_step"] = _paired(result["codec"]["per_crop_first_step_bpd"],
                                          baseline["codec"]["per_crop_first_step_bpd"])
    return out


def stored_result(path: Path, codec: bool = False) -> dict:
    """An earlier run's result from its ``--json`` file, to pair with a new run without evaluating the
    baseline again (the draws depend only on the crops, ``draws`` and ``seed``, which
    :func:`paired_difference` checks)."""
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not a JSON file of this module ({err})") from None
    needed = (*SAME_DRAWS, "nelbo_bpd", "nelbo_bpd_stderr", "per_crop_bpd")
    if not isinstance(result, dict) or any(k not in result for k in needed):
        raise ValueError("not a JSON file of this module (no per-crop NELBO)")
    if codec and "codec" not in result:
        raise ValueError("has no codec rate (made without --codec)")
    return result


def _codec_times(model_path: Path, size: int) -> list[int]:
    from diffusers import DDPMScheduler

    from diffc.models.training import codec_times

    scheduler = DDPMScheduler.from_pretrained(Path(model_path) / "scheduler", local_files_only=True)
    return codec_times(scheduler.alphas_cumprod, size)


def _paired(values: list[float], baseline: list[float]) -> dict:
    d = np.asarray(values) - np.asarray(baseline)
    return {"bpd": float(d.mean()), "stderr": _stderr(d)}


def _stderr(values: np.ndarray) -> float | None:
    """The standard error of the mean over crops; None (JSON null) for a single crop, which has none."""
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None


def _pm(stderr: float | None) -> str:
    return "(one crop: no standard error)" if stderr is None else f"+- {stderr:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffc.models.nelbo", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="pipeline folder (unet/, scheduler/)")
    parser.add_argument("--size", type=int, default=64, help="crop size in px (default 64)")
    parser.add_argument("--draws", type=int, default=8, help="Monte Carlo draws per crop (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", type=Path,
                        help="a second pipeline folder evaluated on the same draws (same seed), or the "
                             "--json of an earlier run with the same --size, --draws and --seed: the "
                             "per-crop paired difference and its standard error")
    parser.add_argument("--codec", action="store_true",
                        help="also the image codec's ideal rate at its own steps (one draw per step)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.draws < 2:
        parser.error("--draws must be at least 2 (the standard error needs two draws per crop)")
    if args.baseline and not args.baseline.exists():
        parser.error(f"--baseline {args.baseline}: no such pipeline folder or JSON file")
    stored = None
    if args.baseline and args.baseline.is_file():
        # Checked before the minutes of evaluating --model, not after.
        try:
            stored = stored_result(args.baseline, codec=args.codec)
        except ValueError as err:
            parser.error(f"--baseline {args.baseline}: {err}")
        # The crops follow from the size; the rest of SAME_DRAWS are options.
        ours = dict(zip(SAME_DRAWS[1:], (args.size, args.draws, args.seed), strict=True))
        if any(stored[k] != v for k, v in ours.items()):
            parser.error(f"--baseline {args.baseline} was made with " + ", ".join(
                f"{k} {stored[k]}" for k in ours) + "; pass the same --size, --draws and --seed")
        if args.codec and stored["codec"]["times"] != _codec_times(args.model, args.size):
            parser.error(f"--baseline {args.baseline}: its codec rate is at other steps "
                         f"({stored['codec']['times'][:3]}...: an earlier image schedule); "
                         "evaluate the baseline's folder instead, or pair without --codec")
    import torch

    torch.set_num_threads(args.threads)
    result = evaluate(args.model, args.size, args.draws, args.seed, args.batch, args.device, not args.quiet,
                      codec=args.codec)
    print(f"{result['crops']} crops of {result['crop_size']} px from the held-out photos, "
          f"{result['draws_per_crop']} draws each, seed {result['seed']}:")
    print(f"  NELBO          {result['nelbo_bpd']:.4f} +- {result['nelbo_bpd_stderr']:.4f} bpd (1 s.e.)")
    print(f"  PNG            {result['png_bpd']:.4f} bpd (whole photos {result['whole_photo_png_bpd']:.4f})")
    print(f"  WebP lossless  {result['webp_lossless_bpd']:.4f} bpd "
          f"(whole photos {result['whole_photo_webp_lossless_bpd']:.4f})")
    if args.codec:
        codec = result["codec"]
        print(f"  codec's rate   {codec['rate_bpd']:.4f} {_pm(codec['rate_bpd_stderr'])} bpd at its "
              f"{len(codec['times'])} steps (ideal; first step {codec['step_bpd'][1]:.4f})")
    if args.baseline:
        base = stored if stored is not None else evaluate(
            args.baseline, args.size, args.draws, args.seed, args.batch, args.device, not args.quiet,
            codec=args.codec)
        try:
            paired = paired_difference(result, base)
        except ValueError as err:
            parser.error(f"--baseline {args.baseline}: {err}")
        result["minus_baseline"] = paired | {
            "baseline": str(args.baseline), "baseline_nelbo_bpd": base["nelbo_bpd"],
            "baseline_nelbo_bpd_stderr": base["nelbo_bpd_stderr"]}
        if args.codec:
            result["minus_baseline"]["baseline_codec_rate_bpd"] = base["codec"]["rate_bpd"]
        print(f"  minus {args.baseline}: {result['minus_baseline']['bpd']:+.4f} "
              f"{_pm(result['minus_baseline']['stderr'])} bpd (paired draws, 1 s.e. over crops)")
        for key in ("codec_rate", "codec_first_step"):
            if key in result["minus_baseline"]:
                d = result["minus_baseline"][key]
                print(f"    {key.replace('_', ' ')}: {d['bpd']:+.4f} {_pm(d['stderr'])} bpd")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
