"""How long each decoder takes to refuse hostile input: the numbers docs/inputs.md records.

Tests never assert wall-clock times (docs/testing.md); the fuzz suites assert the structure that
makes refusals fast (a claim over the limit is refused by the size check before any decode, no
input allocates from what it claims) and this script measures the times on the seeded corpora of
tests/test_fuzz_images.py, tests/test_fuzz_refine.py and tests/test_fuzz_container.py, at the real
limit (:data:`diffc.imaging.io.MAX_PIXELS`):

    PYTHONPATH=$PWD/kernels:$PWD python tests/refusal_times.py

It prints, per decoder, how many inputs were refused and the median, 99th percentile and largest
refusal time.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import test_fuzz_container as fc  # noqa: E402
import test_fuzz_images as fi  # noqa: E402
import test_fuzz_refine as fr  # noqa: E402
from tiny_unet import save_tiny_model  # noqa: E402

from diffc.imaging.io import MAX_PIXELS, READ_FORMATS, read_image  # noqa: E402
from diffc.models import load_model  # noqa: E402
from diffc.refine.codec import RefineCodec  # noqa: E402


def _refusal_times(inputs: Iterable[bytes], read: Callable[[bytes], object]) -> list[float]:
    times = []
    for data in inputs:
        started = time.perf_counter()
        try:
            read(data)
        except ValueError:
            times.append(time.perf_counter() - started)
    return times


def _report(name: str, times: list[float]) -> None:
    ms = 1e3 * np.array(times)
    print(f"{name:28s} {len(ms):6d} refused  median {np.median(ms):6.2f} ms  "
          f"p99 {np.percentile(ms, 99):7.2f} ms  max {ms.max():7.2f} ms", flush=True)


def main() -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    samples = fi._samples()
    for fmt in READ_FORMATS:
        forged = [fi._forge_size(samples[fmt], fmt, w, h) for w, h in fi._claims(fmt, rng, 3000, MAX_PIXELS)]
        damaged = fi._mutations(samples[fmt], rng, 2000)
        _report(f"image {fmt}", _refusal_times(forged + damaged, lambda d: read_image(io.BytesIO(d))))
    with tempfile.TemporaryDirectory() as tmp:
        refine = RefineCodec(load_model(save_tiny_model(Path(tmp))), progress=False)
        _report("refine file", _refusal_times((d for _, d in fr.corpus(fr.make_files(refine))),
                                              lambda d: refine.read(d, project=d[3:4] in fr.JPEG_IDS)))
    files = fc.make_files()
    for name, model in sorted(fc.DECODERS.items()):
        _report(f"DiffC container ({name})", _refusal_times((d for _, d in fc.corpus(files)),
                                                            lambda d, m=model: fc.decode_state(d, m)))


if __name__ == "__main__":
    main()
