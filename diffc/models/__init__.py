"""DiffC models: what turns an image into the denoiser's space and back.

* :mod:`diffc.models.base` -- the :class:`ImageModel` protocol that the codec depends on;
* :mod:`diffc.models.pixel` -- the pixel-space model and its pixel rounding rule;
* :mod:`diffc.models.diffusers_folder` -- a local diffusers folder (:func:`load_model`): a
  pixel-space ``UNet2DModel`` and scheduler, or a latent pipeline; the shipped default model's
  folder (:func:`default_model_dir`);
* :mod:`diffc.models.latent`, :mod:`~diffc.models.latent_folder`, :mod:`~diffc.models.families`,
  :mod:`~diffc.models.latent_networks`, :mod:`~diffc.models.text_conditioning` -- latent models:
  the VAE around the denoiser, loading a pipeline folder, its family, each family's network call,
  what it is conditioned on; :mod:`diffc.models.weights_digest` -- cached digests of model files;
* :mod:`diffc.models.data` -- the offline training photographs and the held-out evaluation set;
* :mod:`diffc.models.training` -- training the default model; :mod:`diffc.models.nelbo` -- its
  negative ELBO; :mod:`diffc.models.photo_pack`, :mod:`diffc.models.compact_weights` -- what a GPU
  training run carries there (the photos) and back (the weights);
* ``diffc/models/default/`` -- the shipped default model and its model card.

The Gaussian oracle lives in :mod:`diffc.diffusion.denoisers` beside the denoiser protocol.
"""

from diffc.models.base import Conditioning, ImageModel
from diffc.models.diffusers_folder import (
    ConditioningError,
    ModelError,
    default_model_dir,
    load_model,
    set_torch_threads,
)
from diffc.models.latent import LatentModel
from diffc.models.pixel import PixelModel

__all__ = ["Conditioning", "ConditioningError", "ImageModel", "LatentModel", "ModelError", "PixelModel",
           "default_model_dir", "load_model", "set_torch_threads"]
