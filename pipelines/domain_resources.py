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
    return resources
