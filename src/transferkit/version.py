"""The version of transferkit (read by the report footer and the package)."""

__version__ = "0.1.0"
