"""Explaining a transferred model: why it predicts what it does, and what transfer changed.

* attributions for single predictions, from well-kept libraries rather than our own code:
  Captum's integrated gradients and occlusion (:mod:`~.attributions`; for text, integrated
  gradients through the embedding layer) and the Grad-CAM family of ``grad-cam`` for
  convolutional backbones (:mod:`~.cam`); :mod:`~.methods` is their registry and says which
  apply to a model;
* what fine-tuning changed, block by block (:mod:`~.change`): linear CKA between the source
  model's and the trained model's representations of target examples (:mod:`~.cka`), the
  relative weight change, and the plain-language reading of that profile;
* which source knowledge the target classes use (:mod:`~.mapping`): the source classes their
  examples are predicted as, from the empirical joint that LEEP uses;
* drawing the results (:mod:`~.render`): PNG overlays, HTML with highlighted tokens.

The workflow is :func:`transferkit.runs.explain.explain`, also ``transferkit.explain(...)``.
"""
