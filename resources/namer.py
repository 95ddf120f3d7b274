"""Namer resource: the transports of the cluster namers, and their configuration.

The land-cover rules, the prompts, the label list and the strict parsing of answers are the imagery
domain's (``assets/imagery/naming.py``); this module only reaches the models:

* :class:`OllamaVision` asks an Ollama vision model one question about one PNG image through the
  project's one Ollama client (``resources.llm.LLMClient``: a total deadline per request, retries
  with backoff, several hosts, and the per-host concurrency limit shared with every other Ollama
  call of the process).
* :class:`TransformersVision` loads a local image-text-to-text checkpoint (PaliGemma-style) from a
  folder on first use and generates a short answer with its mean token probability.

:class:`NamerResource` is the typed configuration (settings: ``IMAGERY_NAMER`` rules | ollama |
transformers, ``IMAGERY_NAMER_MODEL``, ``OLLAMA_HOSTS``/``OLLAMA_HOST``, the ``FMLAKE_LLM_*`` client
limits, ``IMAGERY_NAMER_CHECKPOINT``, ``IMAGERY_NAMER_DEVICE``, ``IMAGERY_K_MIN``/``IMAGERY_K_MAX``);
``assets.imagery.naming.namer_for(resource)`` builds the namer from it. Models load on first use,
never at import.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import dagster as dg
from pydantic import Field, PrivateAttr

from resources.llm import DEFAULT_HOST, DEFAULT_MAX_ANSWER_BYTES, LLMClient, LLMReply, normalise_hosts

BACKENDS = ("rules", "ollama", "transformers")


class OllamaVision:
    """One question about one image to an Ollama vision model (chat API, the image in the user message)."""

    def __init__(self, model: str, *, hosts: Sequence[str] = (DEFAULT_HOST,), timeout_s: float = 120.0,
                 max_retries: int = 2, max_concurrency: int = 4, max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
                 client: LLMClient | None = None) -> None:
        if not model:
            raise ValueError("the ollama namer needs a model name (IMAGERY_NAMER_MODEL, e.g. llava or qwen2.5vl)")
        self.model = model
        self.hosts = normalise_hosts(None, list(hosts))
        self.name = f"ollama:{model}"
        self._settings = dict(timeout_s=timeout_s, max_retries=max_retries, max_concurrency=max_concurrency,
                              max_answer_bytes=max_answer_bytes)
        self._client = client
        self._lock = threading.Lock()

    def client(self) -> LLMClient:
        with self._lock:
            if self._client is None:
                self._client = LLMClient(hosts=self.hosts, **self._settings)
            return self._client

    def ask(self, prompt: str, image_png: bytes, *, format: Any = None) -> LLMReply:  # noqa: A002 - Ollama's name
        """The model's reply (``error`` set when the call failed after its retries; never raises for that)."""
        messages = [{"role": "user", "content": prompt, "images": [image_png]}]
        return self.client().chat(self.model, messages, format=format, temperature=0)


class TransformersVision:
    """A local image-text-to-text checkpoint (PaliGemma-style), loaded from a folder on first use."""

    def __init__(self, checkpoint: str, device: str = "cpu", max_new_tokens: int = 8) -> None:
        if not checkpoint:
            raise ValueError("the transformers namer needs a checkpoint folder (IMAGERY_NAMER_CHECKPOINT)")
        self.checkpoint, self.device, self.max_new_tokens = checkpoint, device, max_new_tokens
        self.name = f"transformers:{checkpoint.rstrip('/').split('/')[-1]}"
        self.model = None
        self.processor = None

    def _load(self):
        if self.model is None:
            from pathlib import Path

            from transformers import AutoModelForImageTextToText, AutoProcessor

            if not Path(self.checkpoint).is_dir():
                raise FileNotFoundError(f"namer checkpoint folder {self.checkpoint} does not exist")
            self.processor = AutoProcessor.from_pretrained(self.checkpoint, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(self.checkpoint, local_files_only=True)
            self.model.to(self.device).eval()
        return self.model, self.processor

    def ask(self, prompt: str, image_png: bytes) -> tuple[str, float | None]:
        """The generated answer and its mean token probability (None when the model gives no scores)."""
        import io

        import torch
        from PIL import Image

        model, processor = self._load()
        image = Image.open(io.BytesIO(image_png)).convert("RGB")
        image_token = getattr(processor, "image_token", None)
        if image_token and image_token not in prompt:
            prompt = f"{image_token}{prompt}"
        inputs = processor(text=prompt, images=image, return_tensors="pt").to(self.device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True)
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1]:]
        text = processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
        conf = None
        if out.scores:
            logp = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
            conf = float(torch.exp(logp.mean()))
        return text, conf


class NamerResource(dg.ConfigurableResource):
    """Which namer labels the clusters, and how its model is reached (see the module docstring).

    ``k_min``/``k_max`` carry the clustering bounds from the settings to the imagery assets, which
    check them (``assets.imagery.naming.check_k_bounds``)."""

    backend: str = Field(default="rules", description="rules | ollama | transformers.")
    model: str = Field(default="", description="Ollama vision model (backend ollama).")
    hosts: list[str] = Field(default_factory=list, description="Ollama base URLs (OLLAMA_HOSTS).")
    host: str = Field(default=DEFAULT_HOST, description="One Ollama base URL (used when hosts is empty).")
    checkpoint: str = Field(default="", description="Local checkpoint folder (backend transformers).")
    device: str = Field(default="cpu", description="Torch device of the transformers checkpoint.")
    timeout_s: float = Field(default=120.0, description="Total deadline of one Ollama request in seconds.")
    max_retries: int = Field(default=2, description="Retries of a failed Ollama call.")
    max_concurrency: int = Field(default=4, description="Ollama requests in flight per host (shared by the process).")
    max_answer_bytes: int = Field(default=DEFAULT_MAX_ANSWER_BYTES, description="Largest Ollama response accepted.")
    k_min: int = Field(default=6, description="Fewest clusters of a batch (silhouette-best k in [k_min, k_max]).")
    k_max: int = Field(default=12, description="Most clusters of a batch.")

    _vision: Any = PrivateAttr(default=None)

    def ollama_vision(self) -> OllamaVision:
        if not isinstance(self._vision, OllamaVision):
            self._vision = OllamaVision(self.model, hosts=normalise_hosts(self.host, self.hosts),
                                        timeout_s=self.timeout_s, max_retries=self.max_retries,
                                        max_concurrency=self.max_concurrency, max_answer_bytes=self.max_answer_bytes)
        return self._vision

    def transformers_vision(self) -> TransformersVision:
        if not isinstance(self._vision, TransformersVision):
            self._vision = TransformersVision(self.checkpoint, device=self.device)
        return self._vision
