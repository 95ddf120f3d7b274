"""How the search index scores, as a Dagster resource the search assets take (built from the settings in
``pipelines/resources.py``: ``SEARCH_FUSION``, ``SEARCH_ALPHA``, ``SEARCH_EXPAND_WEIGHT``, ``SEARCH_VECTOR_INDEX``, ``SEARCH_EXACT_MAX_VECTORS``)."""

from __future__ import annotations

import dagster as dg

from assets.search.engine import IndexConfig

_DEFAULT = IndexConfig()


class SearchIndexResource(dg.ConfigurableResource):
    """Fusion and vector-index choices of the search index (defaults: :class:`IndexConfig`)."""

    fusion: str = _DEFAULT.fusion
    alpha: float = _DEFAULT.alpha
    expand_weight: float = _DEFAULT.expand_weight
    vector_index: str = _DEFAULT.vector_index
    exact_max_vectors: int = _DEFAULT.exact_max_vectors

    def index_config(self, **overrides) -> IndexConfig:
        fields = dict(fusion=self.fusion, alpha=self.alpha, expand_weight=self.expand_weight,
                      vector_index=self.vector_index,
                      exact_max_vectors=self.exact_max_vectors)
        return IndexConfig(**{**fields, **{k: v for k, v in overrides.items() if v is not None}})
