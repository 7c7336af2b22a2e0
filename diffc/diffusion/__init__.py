"""Gaussian diffusion for DiffC, torch-free: schedules, parametrizations, denoisers, reverse steps, samplers.

Everything below the DiffC core (encoder, decoder, container, codec) and above :mod:`rcc`: the
variance-preserving process ``Z_t = alpha_t X + sigma_t U`` (:mod:`~diffc.diffusion.schedules`),
the spacing of the times DiffC sends (:mod:`~diffc.diffusion.spacing`), network outputs as epsilon
(:mod:`~diffc.diffusion.parametrizations`), denoisers and the exact Gaussian oracle
(:mod:`~diffc.diffusion.denoisers`), one reverse step (:mod:`~diffc.diffusion.reverse`), the
decoders' samplers (:mod:`~diffc.diffusion.samplers`), the closed forms for Gaussian data
(:mod:`~diffc.diffusion.theory`) and the argument checks shared with the core
(:mod:`~diffc.diffusion.checks`).
"""
