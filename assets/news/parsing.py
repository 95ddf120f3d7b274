"""Strict parsing of the models' answers: 1 (present), 2 (absent) or invalid — never a guess.

Accepted, after removing reasoning blocks (``<think>…</think>``), markdown emphasis, quotes and
surrounding whitespace: ``1``, ``1.``, ``Respuesta: 2`` (also ``Answer``/``Resultado``), ``**2**``.
Everything else ("La respuesta es 1", "1 o 2", "Sí", an empty answer, an unclosed ``<think>``) is
``invalid`` with a reason; the raw answer is always kept by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK_CLOSED = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_DECOR = re.compile(r"[*_`\"'“”‘’«»]")
# a dash separates only when a space follows: "Respuesta - 1" is 1, "Respuesta -1" is minus one (invalid)
_LABELLED = re.compile(r"^(?:respuesta|answer|resultado)\s*(?:[:：=]|-(?=\s))?\s*([12])\s*[.!]?$", re.IGNORECASE)
_BARE = re.compile(r"^([12])\s*[.!]?$")


@dataclass(frozen=True)
class ParsedAnswer:
    answer: int | None
    invalid_reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.answer is not None


def parse_answer(raw: str | None) -> ParsedAnswer:
    """1 / 2 from a model's raw answer, or ``answer=None`` with the reason it is invalid."""
    if raw is None:
        return ParsedAnswer(None, "no answer")
    text = _THINK_CLOSED.sub("", raw)
    if _THINK_OPEN.search(text):
        return ParsedAnswer(None, "unterminated <think> block")
    text = _DECOR.sub("", text).strip()
    if not text:
        return ParsedAnswer(None, "empty answer")
    for pattern in (_BARE, _LABELLED):
        m = pattern.match(text)
        if m:
            return ParsedAnswer(int(m.group(1)))
    digits = set(re.findall(r"(?<!\d)[12](?!\d)", text))
    if len(digits) > 1:
        return ParsedAnswer(None, "both 1 and 2 in the answer")
    if digits:
        return ParsedAnswer(None, "a digit inside other text (not a bare answer)")
    return ParsedAnswer(None, "no 1/2 in the answer")
