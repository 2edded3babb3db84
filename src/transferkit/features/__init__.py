"""Batched feature extraction with an on-disk cache (see ``extract.py`` and ``cache.py``)."""

from transferkit.features.cache import FeatureCache
from transferkit.features.extract import extract_features, feature_key

__all__ = ["FeatureCache", "extract_features", "feature_key"]
