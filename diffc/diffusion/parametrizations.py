"""What a denoising network predicts, converted to epsilon: the parametrizations of diffusers.

A network trained on the VP process ``Z_t = alpha_t X + sigma_t U`` (:mod:`diffc.diffusion.schedules`)
predicts one of, in diffusers' names:

* ``"epsilon"``: the noise U (Ho et al. 2020);
* ``"v_prediction"``: ``v = alpha U - sigma X`` (Salimans & Ho 2022), so ``eps = sigma z + alpha v``;
* ``"sample"``: X itself (x0-prediction), so ``eps = (z - alpha x0) / sigma``;
* ``"flow_prediction"``: the rectified-flow velocity ``v = U - X`` of SD3 and Flux (Esser et al.
  2024), for a network that sees the flow state ``z_f = (1 - s) X + s U`` of
  :class:`~diffc.diffusion.schedules.RectifiedFlowVP`. Since ``z_f = z / (alpha + sigma)`` and
  ``1 - s = alpha / (alpha + sigma)``, ``eps = z_f + (1 - s) v = (z + alpha v) / (alpha + sigma)``.

A conversion is a function of the network's output, ``z`` and ``(alpha, sigma)`` at the network's
time; the identities are exact (they use only ``alpha^2 + sigma^2 = 1``), the arithmetic is float64.
A network trained on another scaling of the same process (flow matching's velocity) maps onto it
exactly by a scale of its input (:data:`INPUT_SCALES`, docs/theory.md) and one more conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

__all__ = ["CONVERSIONS", "INPUT_SCALES", "PREDICTIONS", "Conversion", "eps_from_eps", "eps_from_flow",
           "eps_from_v", "eps_from_x0", "network_input"]

Conversion = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]
"""``(output, z, alpha, sigma) -> eps``."""


def eps_from_eps(eps: np.ndarray, z: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """An epsilon-prediction is already epsilon."""
    return eps


def eps_from_v(v: np.ndarray, z: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """epsilon from a v-prediction: with ``v = alpha eps - sigma x``, ``eps = sigma z + alpha v``."""
    return sigma * z + alpha * v


def eps_from_x0(x0: np.ndarray, z: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """epsilon from an x0-prediction: ``eps = (z - alpha x0) / sigma``."""
    return (z - alpha * x0) / sigma


def eps_from_flow(v: np.ndarray, z: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """epsilon from a flow velocity ``v = eps - x`` at the VP state ``z``:
    ``(z + alpha v) / (alpha + sigma)``."""
    return (z + alpha * v) / (alpha + sigma)


CONVERSIONS: Mapping[str, Conversion] = MappingProxyType({
    "epsilon": eps_from_eps,
    "v_prediction": eps_from_v,
    "sample": eps_from_x0,  # diffusers' name for x0-prediction
    "flow_prediction": eps_from_flow,
})
"""The conversion of each prediction type, by diffusers' ``prediction_type`` name."""
PREDICTIONS: tuple[str, ...] = tuple(CONVERSIONS)

INPUT_SCALES: Mapping[str, Callable[[float, float], float]] = MappingProxyType({
    "flow_prediction": lambda alpha, sigma: 1.0 / (alpha + sigma),  # z_f = z / (alpha + sigma)
})
"""The factor that turns the VP state into the state a network of each prediction type was trained
on (1 when absent: VP networks see ``z`` itself)."""


def network_input(prediction: str, z: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """The state a ``prediction``-type network sees for the VP state ``z`` at ``(alpha, sigma)``."""
    scale = INPUT_SCALES.get(prediction)
    return z if scale is None else z * scale(alpha, sigma)
