"""DiffC models: what turns an image into the denoiser's space and back.

* :mod:`diffc.models.unet` -- any diffusers ``UNet2DModel`` and scheduler from a local folder;
* :mod:`diffc.models.data` -- the offline training photographs and the held-out evaluation set;
* :mod:`diffc.models.training` -- training the default model;
* ``diffc/models/default/`` -- the shipped default model and its model card.

The Gaussian oracle lives in :mod:`diffc.denoisers` beside the denoiser protocol.
"""
