"""Expert instructions: versioned YAML files per document type and industry (no Dagster).

Files live in ``assets/documents/instructions/`` (package data) or in an extra folder given with
``FMLAKE_DOC_INSTRUCTIONS_DIR`` / ``--instructions``; experts edit them without touching code.
Each file: ``document_type``, ``version`` (int), ``industry`` ("*" or a SCIAN sector code),
``title`` (may use ``{sector_title}``, ``{geo_name}``), ``tone``, ``audience``, ``length``
(``min_words``/``max_words``), ``words_to_avoid`` and ``sections`` (``id``, ``title``,
``required_facts`` = metric names, ``guidance``, ``optional``). The most specific industry wins,
then the highest version (a run may pin a version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assets.documents.facts import ALL_METRICS

PACKAGE_DIR = Path(__file__).resolve().parent


class InstructionsError(ValueError):
    """An instructions file is invalid (the message names the file and the field)."""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    required_facts: tuple[str, ...] = ()
    guidance: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Instructions:
    document_type: str
    version: int
    industry: str
    title: str
    tone: str
    audience: str
    min_words: int
    max_words: int
    words_to_avoid: tuple[str, ...]
    sections: tuple[Section, ...]
    path: str = field(default="", compare=False)

    @property
    def instructions_id(self) -> str:
        """Stable name of this version, recorded with every draft: ``conociendo_la_industria.31-33@v1``."""
        return f"{self.document_type}.{self.industry}@v{self.version}"

    def render_title(self, sector_title: str, geo_name: str) -> str:
        try:
            return self.title.format(sector_title=sector_title, geo_name=geo_name)
        except (KeyError, IndexError, ValueError) as exc:
            raise InstructionsError(f"{self.path}: title {self.title!r} uses an unknown placeholder ({exc}); "
                                    "allowed: {sector_title}, {geo_name}") from None


def _req(data: dict, key: str, typ, path: Path, where: str = ""):
    if key not in data:
        raise InstructionsError(f"{path}: missing field {where}{key!r}")
    value = data[key]
    if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
        raise InstructionsError(f"{path}: field {where}{key!r} must be {getattr(typ, '__name__', typ)}, "
                                f"got {type(value).__name__}")
    return value


def load_file(path: str | Path) -> Instructions:
    """Parse and validate one instructions file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InstructionsError(f"{path}: cannot be read as YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InstructionsError(f"{path}: expected a mapping at the top level")
    length = data.get("length") or {}
    if not isinstance(length, dict):
        raise InstructionsError(f"{path}: field 'length' must be a mapping with min_words/max_words")
    min_words, max_words = int(length.get("min_words", 0)), int(length.get("max_words", 10_000))
    if min_words > max_words:
        raise InstructionsError(f"{path}: length.min_words {min_words} > length.max_words {max_words}")
    raw_sections = _req(data, "sections", list, path)
    if not raw_sections:
        raise InstructionsError(f"{path}: 'sections' is empty")
    sections, seen = [], set()
    for i, s in enumerate(raw_sections):
        if not isinstance(s, dict):
            raise InstructionsError(f"{path}: sections[{i}] must be a mapping")
        sid = str(_req(s, "id", str, path, f"sections[{i}]."))
        if sid in seen:
            raise InstructionsError(f"{path}: sections[{i}].id {sid!r} is repeated")
        seen.add(sid)
        required = s.get("required_facts") or []
        if not isinstance(required, list):
            raise InstructionsError(f"{path}: sections[{i}].required_facts must be a list of metric names")
        unknown = [m for m in required if m not in ALL_METRICS]
        if unknown:
            raise InstructionsError(f"{path}: sections[{i}] ({sid}) requires unknown metric(s) {unknown}; "
                                    f"known: {sorted(ALL_METRICS)}")
        sections.append(Section(id=sid, title=str(_req(s, "title", str, path, f"sections[{i}].")),
                                required_facts=tuple(required), guidance=str(s.get("guidance", "")).strip(),
                                optional=bool(s.get("optional", False))))
    version = _req(data, "version", int, path)
    words = data.get("words_to_avoid") or []
    if not isinstance(words, list):
        raise InstructionsError(f"{path}: words_to_avoid must be a list")
    return Instructions(
        document_type=str(_req(data, "document_type", str, path)), version=version,
        industry=str(data.get("industry", "*")), title=str(_req(data, "title", str, path)),
        tone=str(data.get("tone", "")).strip(), audience=str(data.get("audience", "")).strip(),
        min_words=min_words, max_words=max_words, words_to_avoid=tuple(str(w).lower() for w in words),
        sections=tuple(sections), path=str(path),
    )


def load_all(extra_dir: str | Path | None = None) -> list[Instructions]:
    """Every instructions file: the packaged ones, then ``extra_dir`` (same name/version there overrides)."""
    found: dict[tuple[str, str, int], Instructions] = {}
    dirs = [PACKAGE_DIR] + ([Path(extra_dir)] if extra_dir else [])
    for d in dirs:
        if not d.is_dir():
            raise InstructionsError(f"instructions folder {d} does not exist")
        for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            ins = load_file(p)
            found[(ins.document_type, ins.industry, ins.version)] = ins
    return list(found.values())


def select(document_type: str, sector_code: str, version: int | None = None,
           extra_dir: str | Path | None = None) -> Instructions:
    """The instructions for a sector: sector-specific beats ``*``, then highest (or the pinned) version."""
    candidates = [i for i in load_all(extra_dir) if i.document_type == document_type
                  and i.industry in (sector_code, "*")]
    if version is not None:
        candidates = [i for i in candidates if i.version == version]
    if not candidates:
        pinned = f" version {version}" if version is not None else ""
        raise InstructionsError(f"no instructions{pinned} for document type {document_type!r} and sector "
                                f"{sector_code!r}")
    return max(candidates, key=lambda i: (i.industry == sector_code, i.version))
