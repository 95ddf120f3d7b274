"""The code location of the worker-scaling benchmark (:mod:`pipelines.benches.cluster`), loaded by the Celery
workers by module name: independent steps, each a slice of a news extraction against a loopback
Ollama-compatible server, or the segmentation of one synthetic tile. Its executor is the project's Celery
executor (broker and backend come in the run config)."""


import time
from types import SimpleNamespace

import dagster as dg

from pipelines.cluster.executor import routed_celery_executor
from pipelines.settings import load_settings

N_STEPS = 4


class NewsSliceConfig(dg.Config):
    host: str
    model: str = "bench"
    n_articles: int = 80
    concurrency: int = 2


class TileConfig(dg.Config):
    size: int = 768
    seed: int = 0


def _news_slice(i: int) -> dg.AssetsDefinition:
    @dg.asset(key=["bench", f"news_slice_{i}"])
    def news_slice(config: NewsSliceConfig) -> dg.MaterializeResult:
        from assets.news.extraction import AnswerCache, ArticleText, extract_answers
        from assets.news.prompts import get_prompt
        from assets.news.synthetic import synthetic_articles
        from resources.llm import LLMClient

        articles = [ArticleText.of(a["id"], a["text"]) for a in synthetic_articles(config.n_articles)][i::N_STEPS]
        t0 = time.perf_counter()
        with LLMClient(config.host, timeout_s=30, max_retries=1, backoff_s=0.01,
                       max_concurrency=config.concurrency) as client:
            result = extract_answers(articles, [config.model], prompt=get_prompt(), client=client,
                                     cache=AnswerCache())
        valid = int((result.answers.get_column("status") == "valid").sum())
        if valid != len(articles):
            raise dg.Failure(f"slice {i}: {valid} valid answers of {len(articles)}")
        return dg.MaterializeResult(metadata={"articles": len(articles), "seconds": time.perf_counter() - t0})

    return news_slice


def _tile(i: int) -> dg.AssetsDefinition:
    @dg.asset(key=["bench", f"tile_{i}"])
    def tile(config: TileConfig) -> dg.MaterializeResult:
        import numpy as np

        from assets.imagery.bench import synthetic_block
        from resources.segmenter import build_segmenter

        block = synthetic_block(i * config.size, 0, config.size, config.size, seed=config.seed).astype(np.float32)
        image = np.moveaxis(block, 0, -1)
        image = (image - image.min()) / max(float(image.max() - image.min()), 1.0)
        t0 = time.perf_counter()
        seg = build_segmenter("default").segment(SimpleNamespace(normalised=image))
        return dg.MaterializeResult(metadata={"segments": int(seg.labels.max()), "seconds": time.perf_counter() - t0})

    return tile


NEWS_KEYS = [dg.AssetKey(["bench", f"news_slice_{i}"]) for i in range(N_STEPS)]
TILE_KEYS = [dg.AssetKey(["bench", f"tile_{i}"]) for i in range(N_STEPS)]

defs = dg.Definitions(assets=[*(_news_slice(i) for i in range(N_STEPS)), *(_tile(i) for i in range(N_STEPS))],
                      executor=routed_celery_executor(load_settings().cluster, ()))
