"""Resources of the applications (LLM, embedder, segmenter, ...), built from the environment.

Each application adds its resources here; heavy models inside them load lazily on first use.
"""

from __future__ import annotations

from typing import Any

from pipelines.environment import Environment


def build(env: Environment) -> dict[str, Any]:
    import os

    from resources.llm import LLMResource, llm_settings_from_env

    resources: dict[str, Any] = {}
    resources["llm"] = LLMResource(**llm_settings_from_env(os.environ, env.ollama_host))

    from resources.namer import NamerResource, namer_settings_from_env
    from resources.segmenter import SegmenterResource, segmenter_settings_from_env

    resources["segmenter"] = SegmenterResource(**segmenter_settings_from_env(os.environ))
    resources["namer"] = NamerResource(**namer_settings_from_env(os.environ, env.ollama_host))

    from assets.search.store import embedder_settings
    from resources.embedder import EmbedderResource

    resources["embedder"] = EmbedderResource(**{**embedder_settings(os.environ), "ollama_host": env.ollama_host})
    return resources
