"""Shipping a finished run's model: the export folder that predicts without PyTorch.

One module per concern: the ONNX graph (:mod:`.onnx_graph`), TorchScript (:mod:`.torchscript`),
int8 quantisation (:mod:`.quantize`), the parity check (:mod:`.parity`), the model card
(:mod:`.card`) and the folder itself, config.json and its atomic write (:mod:`.folder`). The
workflow that puts them together is :mod:`transferkit.runs.export`; the folder is read by
:mod:`transferkit.runtime`.
"""
