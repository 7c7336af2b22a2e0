"""Images: 8-bit I/O and padding, quality metrics, classical baseline codecs and plots.

* :mod:`diffc.imaging.io` -- reading, writing and padding 8-bit images (the one image contract);
* :mod:`diffc.imaging.metrics` -- PSNR, MS-SSIM and LPIPS (:mod:`diffc.imaging.lpips`);
* :mod:`diffc.imaging.baselines` -- JPEG, WebP, AVIF and JPEG XL, and bitrate matching;
* :mod:`diffc.imaging.plots` -- rate-distortion plots and image grids.

Below the models, the codec, the sweeps and the demo: nothing here imports them.
"""
