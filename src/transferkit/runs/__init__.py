"""One file per workflow a user runs, each readable top to bottom, over one recorded-run
helper (:mod:`~transferkit.runs.recorded`): ``fit``, ``predict``, ``compare``, ``cv``,
``paired`` (``runs compare``), ``rank``, ``similarity``, ``zeroshot``, ``adapt`` (with its
``adapt_*`` parts) and ``pretrain``. ``fitting`` holds what ``fit`` shares with the workflows
built on it. The methods themselves live in the packages below (strategies, adaptation,
pretrain, transferability); :mod:`transferkit.api` re-exports the workflows."""
