"""Versioned prompts of the news extraction (plain data, no Dagster).

The default is the seed's prompt, kept word for word (typos included: it is what the seed models
were asked, and comparing against the seed needs the same words). A prompt is identified by its
version; the answer cache is keyed by (model, prompt version, text hash), so changing the wording
needs a new version. ``prompt_hash`` guards against editing a template without bumping its version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PLACEHOLDER = "<texto_noticia>"

SEED_PROMPT_V1 = (
    "Analize the following text: '<texto_noticia>' ¿Podrías identificar si hay presencia de mujeres o niñas "
    "migrantes en el texto? Limite su respuesta a un solo número, por ejemplo, si está presente use 1, si no "
    "está presente use 2."
)

PROMPTS: dict[str, str] = {
    "seed-v1": SEED_PROMPT_V1,
}
DEFAULT_PROMPT_VERSION = "seed-v1"


@dataclass(frozen=True)
class Prompt:
    version: str
    template: str

    def __post_init__(self) -> None:
        if not self.version or not self.version.strip():
            raise ValueError("a prompt needs a non-empty version")
        if PLACEHOLDER not in self.template:
            raise ValueError(f"prompt {self.version!r} has no {PLACEHOLDER} placeholder for the article text")

    @property
    def hash(self) -> str:
        return prompt_hash(self.template)

    def render(self, text: str) -> str:
        """The prompt for one article (the text goes where the placeholder is, as is)."""
        return self.template.replace(PLACEHOLDER, text)


def prompt_hash(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def get_prompt(version: str = DEFAULT_PROMPT_VERSION, template: str | None = None) -> Prompt:
    """A registered prompt by version, or a custom ``template`` under a new ``version``.

    A custom template may not reuse a registered version name with different words.
    """
    if template is None:
        if version not in PROMPTS:
            raise ValueError(f"unknown prompt version {version!r}; registered: {sorted(PROMPTS)} "
                             "(or pass a template with a new version)")
        return Prompt(version, PROMPTS[version])
    if version in PROMPTS and PROMPTS[version] != template:
        raise ValueError(f"prompt version {version!r} is registered with other words: give the new "
                         "template a new version so cached answers are not mixed")
    return Prompt(version, template)
