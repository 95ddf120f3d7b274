"""A classification is configuration, not code: a YAML file names its catalogue, code levels,
where its coded records live in the lakehouse, and the engine settings.

Shipped configs live next to this module (``configs/*.yaml``, package data): ``scian`` (economic
activity, SCIAN 6-digit classes) and ``crime_types`` (the demo's crime narratives). Adding SINCO or
any other classification is a new YAML file, passed by path wherever a name is accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A classification config is missing, malformed or inconsistent (names the file and the field)."""


@dataclass(frozen=True)
class EngineSettings:
    """Settings of the default engine (TF-IDF + linear model + memory + calibration).

    Times are in years (a date becomes a fractional year): ``recency_tau`` is the e-folding time of
    the recency weight ``exp(-(newest - t) / tau)`` given to a training record, so codes assigned
    under the latest edition / coding practice dominate when a code changed meaning.
    """

    backend: str = "tfidf"                      # tfidf | transformer
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] = (1, 2)
    min_df: int = 2
    C: float = 0.5
    recency_tau: float | None = 1.0             # years; a neutral default (not tuned on any test data)
    # Candidates tried on the validation split (the latest period of the training data): the pair
    # (recency_tau, C) whose validation model codes that period best is used; empty -> the fixed
    # values above. null in recency_taus means no recency weighting.
    recency_taus: tuple[float | None, ...] = ()
    Cs: tuple[float, ...] = ()
    context_weight: float = 0.6                 # weight of the context tokens (state, municipality, ...)
    catalog_title_weight: float = 1.0           # catalogue titles as pseudo-examples of codes with examples
    memory_min_sim: float = 0.9                 # word cosine above which a training text is a near duplicate
    memory_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)  # blend weights tried on validation
    catalog_min_sim: float = 0.45               # title similarity to offer a code with no examples
    catalog_override_sim: float = 0.9           # ... and to put it first when the model is unsure
    top_k: int = 5                              # candidates per record (gold.coded_records, the workbench)
    validation_strategy: str = "time"           # time (latest period) | random
    validation_fraction: float = 0.1
    min_validation: int = 30
    min_auto: int = 10                          # fewest validation records a threshold may rest on
    # Backtests the threshold is chosen on: the latest period (the validation split) and up to
    # calibration_periods - 1 earlier whole periods, each coded by a model fitted on the periods before it
    # (the chosen recency_tau and C). The confidence calibrator is fitted on all of them (leave-one-period-
    # out confidences), and the threshold is the strictest that reaches target_precision in each period
    # ("holds across time"); 1 = the latest period only.
    calibration_periods: int = 1
    target_precision: float = 0.95
    seed: int = 0
    embeddings_backend: str | None = None       # None | use | e5 | minilm | ollama (measured: small gain, slow)
    embeddings_weight: float = 0.3
    # transformer backend (fine-tuning a local checkpoint; the paper's BETO path)
    checkpoint: str | None = None
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 64
    device: str = "auto"
    torch_threads: int | None = None            # CPU threads for torch (None: torch's default)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "engine") -> "EngineSettings":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown engine setting(s) {unknown}; known: {sorted(known)}")
        for name in ("char_ngrams", "word_ngrams", "memory_weights", "recency_taus", "Cs"):
            if name in data and data[name] is not None:
                data[name] = tuple(data[name])
        settings = cls(**data)
        settings.validate(where)
        return settings

    def validate(self, where: str = "engine") -> None:
        if self.backend not in ("tfidf", "transformer"):
            raise ConfigError(f"{where}.backend must be tfidf or transformer, got {self.backend!r}")
        if not 0 < self.target_precision <= 1:
            raise ConfigError(f"{where}.target_precision must be in (0, 1], got {self.target_precision}")
        if self.validation_strategy not in ("time", "random"):
            raise ConfigError(f"{where}.validation_strategy must be time or random, got {self.validation_strategy!r}")
        if not 0 < self.validation_fraction < 0.5:
            raise ConfigError(f"{where}.validation_fraction must be in (0, 0.5), got {self.validation_fraction}")
        if self.recency_tau is not None and self.recency_tau <= 0:
            raise ConfigError(f"{where}.recency_tau must be > 0 or null, got {self.recency_tau}")
        for tau in self.recency_taus:
            if tau is not None and not (isinstance(tau, (int, float)) and tau > 0):
                raise ConfigError(f"{where}.recency_taus: each must be > 0 or null, got {tau!r}")
        for c in self.Cs:
            if not (isinstance(c, (int, float)) and c > 0):
                raise ConfigError(f"{where}.Cs: each must be > 0, got {c!r}")
        if not (isinstance(self.calibration_periods, int) and self.calibration_periods >= 1):
            raise ConfigError(f"{where}.calibration_periods must be an integer >= 1, got {self.calibration_periods!r}")
        if self.backend == "transformer" and not self.checkpoint:
            raise ConfigError(f"{where}: backend 'transformer' needs a local 'checkpoint' folder")
        if self.embeddings_backend not in (None, "use", "e5", "minilm", "ollama"):
            raise ConfigError(f"{where}.embeddings_backend must be null, use, e5, minilm or ollama")

    def replace(self, **changes: Any) -> "EngineSettings":
        data = asdict(self)
        data.update({k: v for k, v in changes.items() if v is not None})
        return EngineSettings.from_mapping(data)


@dataclass(frozen=True)
class CatalogSource:
    """Where the catalogue comes from: ``inline`` codes, a ``csv`` file, the ``scian_ciiu`` package, or a
    lakehouse ``table`` (read by the assets)."""

    source: str = "inline"
    path: str | None = None
    package: str | None = None
    table: str | None = None
    code_column: str = "code"
    title_column: str = "title"
    codes: tuple[dict, ...] = ()
    extra: tuple[dict, ...] = ()


@dataclass(frozen=True)
class RecordSource:
    """The lakehouse table holding this classification's records: coded ones train, uncoded ones get coded."""

    table: str
    id: str = "record_id"
    text: str = "text"
    code: str = "code"
    time: str | None = None
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassificationConfig:
    name: str
    title: str
    levels: tuple[int, ...]                      # code prefix lengths, coarse to fine; () = flat codes
    catalog: CatalogSource
    engine: EngineSettings
    source: RecordSource | None = None
    code_pattern: str | None = None
    llm_rerank: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def hierarchical(self) -> bool:
        return len(self.levels) > 1

    def matches_pattern(self, code: str) -> bool:
        return self.code_pattern is None or re.fullmatch(self.code_pattern, code) is not None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path", None)
        return out

    def config_hash(self) -> str:
        """Hash of everything that changes what a model learns (the YAML's content, not its path)."""
        blob = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, default=list)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def with_engine(self, **changes: Any) -> "ClassificationConfig":
        return ClassificationConfig(self.name, self.title, self.levels, self.catalog, self.engine.replace(**changes),
                                    self.source, self.code_pattern, self.llm_rerank, self.path)


def available() -> list[str]:
    """Names of the shipped classification configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | Path) -> ClassificationConfig:
    """Load a shipped config by name (``scian``) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown classification {name_or_path!r}; shipped: {available()} "
                              f"(or pass the path of a YAML file)")
    if not path.exists():
        raise ConfigError(f"classification config {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path))


def parse_config(raw: Any, where: str = "<config>") -> ClassificationConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a classification config is a mapping, got {type(raw).__name__}")
    for key in ("name", "catalog"):
        if key not in raw:
            raise ConfigError(f"{where}: missing required field {key!r}")
    name = str(raw["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"{where}: name {name!r} must be lower_snake_case")
    levels = tuple(int(x) for x in raw.get("levels") or ())
    if list(levels) != sorted(set(levels)):
        raise ConfigError(f"{where}: levels must be increasing prefix lengths, got {list(levels)}")
    cat = raw["catalog"]
    if not isinstance(cat, dict) or cat.get("source") not in ("inline", "csv", "package", "table"):
        raise ConfigError(f"{where}: catalog.source must be inline, csv, package or table")
    catalog = CatalogSource(
        source=cat["source"], path=cat.get("path"), package=cat.get("package"), table=cat.get("table"),
        code_column=cat.get("code_column", "code"), title_column=cat.get("title_column", "title"),
        codes=tuple(dict(c) for c in cat.get("codes") or ()), extra=tuple(dict(c) for c in cat.get("extra") or ()))
    if catalog.source == "inline" and not catalog.codes:
        raise ConfigError(f"{where}: catalog.source inline needs a non-empty catalog.codes list")
    if catalog.source == "csv" and not catalog.path:
        raise ConfigError(f"{where}: catalog.source csv needs catalog.path")
    if catalog.source == "package" and catalog.package != "scian_ciiu":
        raise ConfigError(f"{where}: catalog.package must be scian_ciiu (the one packaged catalogue)")
    if catalog.source == "table" and not catalog.table:
        raise ConfigError(f"{where}: catalog.source table needs catalog.table (e.g. silver.scian_catalog)")
    source = None
    if raw.get("source"):
        s = raw["source"]
        if "table" not in s:
            raise ConfigError(f"{where}: source needs a 'table' (layer.name)")
        source = RecordSource(table=s["table"], id=s.get("id", "record_id"), text=s.get("text", "text"),
                              code=s.get("code", "code"), time=s.get("time"),
                              context=tuple(s.get("context") or ()))
    engine = EngineSettings.from_mapping(raw.get("engine"), f"{where}: engine")
    if "target_precision" in raw:
        engine = engine.replace(target_precision=float(raw["target_precision"]))
    pattern = raw.get("code_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: code_pattern is not a valid regular expression: {exc}") from None
    return ClassificationConfig(name=name, title=str(raw.get("title", name)), levels=levels, catalog=catalog,
                                engine=engine, source=source, code_pattern=pattern,
                                llm_rerank=dict(raw.get("llm_rerank") or {}), path=where)


def generic_config(codes: list[str], name: str = "generic") -> ClassificationConfig:
    """A config for a training file with no classification named: the label set is the file's codes.

    Codes that are all digit strings of one length are treated as hierarchical by prefix
    (2..n digits), like SCIAN or SINCO; anything else is flat.
    """
    lengths = {len(c) for c in codes}
    levels: tuple[int, ...] = ()
    if codes and all(c.isdigit() for c in codes) and len(lengths) == 1:
        n = lengths.pop()
        levels = tuple(range(2, n + 1)) if n > 2 else (n,)
    return ClassificationConfig(name=name, title="codes of the training file", levels=levels,
                                catalog=CatalogSource(source="inline", codes=()), engine=EngineSettings())
