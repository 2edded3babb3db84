"""The workflows a user runs, each readable top to bottom, over one recorded-run helper
(:mod:`~transferkit.runs._recorded`). Single-file workflows are modules (``fit``, ``predict``,
``compare``, ``cv``, ``paired`` for ``runs compare``, ``rank``, ``similarity``, ``zeroshot``,
``pretrain``); multi-file ones are sub-packages (``adapt``, ``auto``, ``explain``). Modules whose
name starts with an underscore are the shared machinery: ``_recorded`` (the run record),
``_fitting`` (what ``fit`` shares with the workflows built on it) and ``_transfer`` (one
recorded transfer). The methods live in the packages below (strategies, adaptation,
pretraining, transferability, search, explanation); :mod:`transferkit.api` re-exports the
workflows."""
