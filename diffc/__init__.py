"""DiffC: lossy compression with a single unconditional diffusion model (Theis et al. 2022).

The encoder communicates the noisy diffusion state Z_t with reverse channel coding (:mod:`rcc`)
and shared randomness (:mod:`rcc_kernels`); the decoder reconstructs by the reverse SDE (DiffC-A), the
probability-flow ODE (DiffC-F) or the denoiser's MMSE estimate.
"""

__version__ = "0.1.0"
