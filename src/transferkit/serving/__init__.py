"""``transferkit serve``: an exported model behind HTTP (``POST /predict``, ``GET /health``,
``GET /metadata``), on Starlette and uvicorn, over the torch-free
:class:`transferkit.runtime.Predictor`.

- :mod:`~transferkit.serving.server`: checks (no open bind without a token), socket, uvicorn,
  clean stop on signals;
- :mod:`~transferkit.serving.app`: the routes, the bearer token, the error answers;
- :mod:`~transferkit.serving.bodies`: request bodies within the size limit, parsed and checked;
- :mod:`~transferkit.serving.batcher`: requests waiting together predicted in one batch;
- :mod:`~transferkit.serving.metadata`: classes, input, source and model card for /metadata.
"""

from __future__ import annotations

from transferkit.serving.app import create_app
from transferkit.serving.server import serve

__all__ = ["create_app", "serve"]
