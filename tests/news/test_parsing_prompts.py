"""Strict answer parsing and versioned prompts."""

import pytest

from assets.news.parsing import parse_answer
from assets.news.prompts import DEFAULT_PROMPT_VERSION, PLACEHOLDER, Prompt, get_prompt


@pytest.mark.parametrize("raw,answer", [
    ("1", 1), ("2", 2), (" 1.\n", 1), ("2.", 2), ("Respuesta: 2", 2), ("respuesta 1", 1), ("**2**", 2),
    ("Answer: 1", 1), ("Respuesta - 2", 2), ("<think>Hay mujeres (1) o no (2)...</think>\n\n1", 1), ("'2'", 2), ("`1`", 1),
])
def test_accepted_forms(raw, answer):
    parsed = parse_answer(raw)
    assert parsed.answer == answer and parsed.valid and parsed.invalid_reason is None


@pytest.mark.parametrize("raw,reason", [
    ("La respuesta es 1", "a digit inside other text"),
    ("1 o 2", "both 1 and 2"),
    ("Sí, hay mujeres migrantes.", "no 1/2"),
    ("", "empty answer"),
    ("<think>pensando 1", "unterminated"),
    ("<think>x</think>", "empty answer"),
    ("3", "no 1/2"),
    ("12", "no 1/2"),
    ("-1", "a digit inside other text"),
    ("Respuesta -1", "a digit inside other text"),
    (None, "no answer"),
])
def test_everything_else_is_invalid_never_guessed(raw, reason):
    parsed = parse_answer(raw)
    assert parsed.answer is None and not parsed.valid and reason in parsed.invalid_reason


def test_default_prompt_is_the_seed_prompt_word_for_word():
    p = get_prompt()
    assert p.version == DEFAULT_PROMPT_VERSION == "seed-v1"
    rendered = p.render("Llegaron mujeres migrantes.")
    assert rendered == ("Analize the following text: 'Llegaron mujeres migrantes.' ¿Podrías identificar si hay "
                        "presencia de mujeres o niñas migrantes en el texto? Limite su respuesta a un solo número, "
                        "por ejemplo, si está presente use 1, si no está presente use 2.")


def test_prompt_versions_are_guarded():
    with pytest.raises(ValueError, match="unknown prompt version"):
        get_prompt("v9")
    with pytest.raises(ValueError, match="registered with other words"):
        get_prompt("seed-v1", f"otra cosa {PLACEHOLDER}")
    with pytest.raises(ValueError, match="placeholder"):
        Prompt("v2", "sin texto")
    custom = get_prompt("es-v2", f"Texto: {PLACEHOLDER}. ¿Mujeres o niñas migrantes? 1 sí, 2 no.")
    assert custom.hash != get_prompt().hash
