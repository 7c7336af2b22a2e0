"""DiffC models: what turns an image into the denoiser's space and back.

* :mod:`diffc.models.base` -- the :class:`ImageModel` protocol that the codec depends on;
* :mod:`diffc.models.pixel` -- the pixel-space model and its pixel rounding rule;
* :mod:`diffc.models.diffusers_folder` -- any diffusers ``UNet2DModel`` and scheduler from a local
  folder (:func:`load_model`), the shipped default model's folder (:func:`default_model_dir`);
* :mod:`diffc.models.data` -- the offline training photographs and the held-out evaluation set;
* :mod:`diffc.models.training` -- training the default model; :mod:`diffc.models.nelbo` -- its
  negative ELBO;
* ``diffc/models/default/`` -- the shipped default model and its model card.

The Gaussian oracle lives in :mod:`diffc.diffusion.denoisers` beside the denoiser protocol.
"""

from diffc.models.base import Conditioning, ImageModel
from diffc.models.diffusers_folder import ModelError, default_model_dir, load_model, set_torch_threads
from diffc.models.pixel import PixelModel

__all__ = ["Conditioning", "ImageModel", "ModelError", "PixelModel", "default_model_dir", "load_model", "set_torch_threads"]
