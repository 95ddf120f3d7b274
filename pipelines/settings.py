"""The ONE reader of the environment: every setting of the project, typed, with its default and validation.

``load_settings()`` maps environment variables (documented one by one in ``.env.example``; a test keeps the two
in step) to a frozen :class:`Settings` of sections — core, llm, imagery, search, documents, cluster (a domain adds its section when it has settings).
Nothing is read at import time. Definitions, CLIs, services, benches and the demo all build their resources
from one :class:`Settings` through the same factories (:mod:`pipelines.resources`), so a default or a
validation exists once.

Secrets (object-store credentials, tokens, passwords) are never copied into resource config: the settings
keep only *which* variable holds them (:class:`Secret`), resources receive ``dg.EnvVar(name)`` and Dagster
resolves it inside the run, so the value shows in no config the UI displays and in no run log.

``FMLAKE_ENV`` = dev (default) | test | prod. In prod ``LAKEHOUSE_ROOT`` must be set explicitly, so a
production run never writes into a developer's checkout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ("dev", "test", "prod")
SOURCE_PREFIX = "FMLAKE_SOURCE_"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable has a value the project cannot use (the message names it)."""


# kept for callers that catch the older name
EnvironmentConfigError = SettingsError


# ------------------------------------------------------------------ reading one variable
class _Reader:
    """Reads variables of one mapping and remembers which ones the settings know (``.env.example`` test)."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def raw(self, var: str) -> str | None:
        value = self.env.get(var)
        return None if value is None or value.strip() == "" else value.strip()

    def str(self, var: str, default: str = "") -> str:
        value = self.raw(var)
        return default if value is None else value

    def num(self, var: str, cast: Callable[[str], T], default: T, *, minimum: float | None = None,
            maximum: float | None = None) -> T:
        raw = self.raw(var)
        if raw is None:
            return default
        try:
            value = cast(raw)
        except ValueError:
            raise SettingsError(f"{var} must be a {cast.__name__}, got {raw!r}") from None
        if value != value or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise SettingsError(f"{var} must be {bounds}, got {raw!r}")
        return value

    def choice(self, var: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str(var, default)
        if value not in choices:
            raise SettingsError(f"{var} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, var: str, default: bool) -> bool:
        raw = self.raw(var)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{var} must be true or false, got {raw!r}")

    def csv(self, var: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.str(var).split(",") if v.strip())

    def json_object(self, var: str) -> dict[str, Any]:
        raw = self.raw(var)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{var} is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise SettingsError(f"{var} must be a JSON object, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class Secret:
    """A secret the settings know by its variable name only; ``str()``/``repr()`` never show the value.

    ``env_var()`` is what resources get (Dagster resolves it in the run); ``reveal()`` is for the few
    callers outside Dagster that must hand the value to a library (a CLI opening the lakehouse)."""

    name: str
    _value: str | None = field(default=None, repr=False, compare=False)

    @property
    def is_set(self) -> bool:
        return bool(self._value)

    def env_var(self):
        import dagster as dg

        return dg.EnvVar(self.name)

    def reveal(self) -> str | None:
        return self._value

    def __str__(self) -> str:
        return f"{self.name}=***" if self.is_set else f"{self.name} (unset)"


# ------------------------------------------------------------------ sections
@dataclass(frozen=True)
class CoreSettings:
    """Where things live and which environment this is."""

    env: str
    lakehouse_root: str
    landing_root: str
    catalog_path: str
    # JSON object of deltalake/object-store options (credentials): a secret
    storage_options: Secret
    # source name -> folder or file holding that source's files (e.g. real data in ../shared/data)
    source_overrides: dict[str, str]
    dbt_target: str
    # a landing batch is picked up once its files have not changed for this long (a copy may be in progress)
    landing_settle_seconds: float
    dagster_home: Path
    shared_data: Path

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def remote(self) -> bool:
        return "://" in self.lakehouse_root and not self.lakehouse_root.startswith("file://")

    def storage_options_value(self) -> dict[str, str]:
        """The decoded storage options (for code outside a Dagster run); never print them."""
        raw = self.storage_options.reveal()
        return json.loads(raw) if raw else {}


@dataclass(frozen=True)
class LLMSettings:
    """Ollama: the server(s), the models of the news fan-out, and the one client's limits."""

    backend: str
    hosts: tuple[str, ...]
    models: tuple[str, ...]
    # total deadline of one request, connect to last byte (not a per-read timeout)
    timeout_s: float
    max_retries: int
    # requests in flight per server, shared by every Ollama client of a process (LLM, namer, embedder)
    max_concurrency: int
    options_json: str
    # a model response larger than this is that call's failure (never read whole into memory)
    max_answer_bytes: int
    # failures in a row (timeouts, drops, 5xx) that drop a host of several; a refused connection drops it at once
    host_failures: int
    # seconds a dropped host gets no requests before it is tried again
    host_cooldown_s: float

    @property
    def host(self) -> str:
        return self.hosts[0]


@dataclass(frozen=True)
class ImagerySettings:
    segmenter: str
    band_roles: str
    window_size: int
    window_overlap: int
    min_mask_area_px: int
    sam_model_type: str
    sam_checkpoint: str
    sam_device: str
    sam_points_per_side: int
    sam_pred_iou_thresh: float
    sam_stability_score_thresh: float
    namer: str
    namer_model: str
    namer_checkpoint: str
    namer_device: str
    k_min: int
    k_max: int


@dataclass(frozen=True)
class SearchSettings:
    embedder: str
    embedder_model_path: str
    ollama_model: str
    embedder_threads: int
    embedder_workers: int
    fusion: str
    alpha: float
    expand_weight: float
    vector_index: str
    exact_max_vectors: int


@dataclass(frozen=True)
class CodingSettings:
    """The coder's workbench and the feedback loop."""

    retrain_after_decisions: int
    workbench_port: int
    claim_minutes: float


@dataclass(frozen=True)
class DocumentsSettings:
    model: str
    instructions_dir: str


@dataclass(frozen=True)
class ClusterSettings:
    """Beyond one machine (README "Deployment"): which executor runs the steps, the Celery broker, the
    Postgres instance storage and the S3-compatible object store. The defaults are today's one machine."""

    # multiprocess (steps in local processes, the default) | celery (steps on Celery workers)
    executor: str
    broker_url: str
    result_backend: str
    # a step a worker took but never acknowledged (the worker died) goes back to the queue after this long
    visibility_timeout_s: float
    # the Dagster instance on Postgres (the cluster profile, deploy/dagster.cluster.yaml): the instance yaml
    # reads these same variables as `env:` references; the password is a secret
    pg_host: str
    pg_port: int
    pg_db: str
    pg_user: str
    pg_password: Secret
    # the S3-compatible object store (MinIO, Ceph RGW; moto in the tests): endpoint and credentials
    s3_endpoint: str
    s3_region: str
    s3_access_key_id: Secret
    s3_secret_access_key: Secret
    # where a node keeps its local copy of artifacts read from or written to an object-store root
    artifact_cache: Path
    # compute logs (step stdout/stderr): a folder every node can read (a NAS mount in a real site)
    compute_logs_dir: Path

    @property
    def celery(self) -> bool:
        return self.executor == "celery"

    def s3_storage_options(self) -> dict[str, str]:
        """deltalake/object_store options for the S3 endpoint of these settings (never print them)."""
        if not self.s3_endpoint:
            return {}
        options = {"AWS_ENDPOINT_URL": self.s3_endpoint, "AWS_REGION": self.s3_region,
                   "AWS_ALLOW_HTTP": "true" if self.s3_endpoint.startswith("http://") else "false"}
        if self.s3_access_key_id.is_set:
            options["AWS_ACCESS_KEY_ID"] = self.s3_access_key_id.reveal() or ""
        if self.s3_secret_access_key.is_set:
            options["AWS_SECRET_ACCESS_KEY"] = self.s3_secret_access_key.reveal() or ""
        return options


@dataclass(frozen=True)
class LimitsSettings:
    """Bounds on what a file or a request may make the house spend (issue 15): past one, the file is
    quarantined / the tile skipped / the request refused with the limit named, never unbounded memory or time."""

    # landing readers (CSV / JSON): file size, one field (a CSV cell, a JSON value), nesting, records per file
    max_landing_file_bytes: int = 512 * 1024 * 1024
    max_field_chars: int = 1_000_000
    max_json_depth: int = 64
    max_records_per_file: int = 5_000_000
    # body of a request to a service (review page, published site, search API)
    max_request_bytes: int = 64 * 1024
    # a raster's declared width x height (a tiny compressed file can declare an enormous one)
    max_raster_pixels: int = 500_000_000


@dataclass(frozen=True)
class DeltaSettings:
    """The Delta write path and the maintenance of the tables (lakehouse.delta, lakehouse.maintenance)."""

    # a write that loses a commit race to another writer re-reads, re-checks its keys and tries again this often
    commit_retries: int = 25
    # maintenance: files that no version of the last N hours needs are vacuumed (time travel reaches that far)
    vacuum_retention_hours: int = 168
    # maintenance: the small files of a partition are compacted into files of about this size
    compact_target_mb: int = 128


@dataclass(frozen=True)
class Settings:
    core: CoreSettings
    llm: LLMSettings
    imagery: ImagerySettings
    search: SearchSettings
    documents: DocumentsSettings
    coding: CodingSettings
    cluster: ClusterSettings
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    delta: DeltaSettings = field(default_factory=DeltaSettings)

    def storage_options(self) -> dict[str, str]:
        """The object-store options of the lakehouse: the S3 endpoint settings, then
        ``LAKEHOUSE_STORAGE_OPTIONS`` on top (never print them)."""
        return {**self.cluster.s3_storage_options(), **self.core.storage_options_value()}

    def lakehouse(self):
        """The Delta tables of these settings, for CLIs, services and benches (outside a Dagster run)."""
        from lakehouse import Lakehouse

        lh = Lakehouse(self.core.lakehouse_root, self.storage_options(), commit_retries=self.delta.commit_retries)
        lh.artifact_cache = self.cluster.artifact_cache
        return lh


# every variable the settings read (the .env.example test compares against this)
KNOWN_VARIABLES: set[str] = set()

LLM_BACKENDS = ("embedded", "ollama")
SEGMENTER_BACKENDS = ("default", "sam")
NAMER_BACKENDS = ("rules", "ollama", "transformers")
EMBEDDER_BACKENDS = ("use", "e5", "minilm", "ollama")


class _TrackingReader(_Reader):
    def raw(self, var: str) -> str | None:
        KNOWN_VARIABLES.add(var)
        return super().raw(var)


def _core(r: _Reader) -> CoreSettings:
    name = r.choice("FMLAKE_ENV", ENVIRONMENTS, "dev")
    root = r.str("LAKEHOUSE_ROOT")
    if not root:
        if name == "prod":
            raise SettingsError("FMLAKE_ENV=prod needs LAKEHOUSE_ROOT (a path or s3:// URI)")
        root = str(PROJECT_ROOT / "data")
    remote = "://" in root and not root.startswith("file://")
    landing = r.str("LANDING_ROOT") or (str(PROJECT_ROOT / "data" / "landing") if remote else f"{root}/landing")
    catalog = r.str("DUCKDB_CATALOG") or (str(PROJECT_ROOT / "data" / "catalog.duckdb") if remote
                                          else f"{root}/catalog.duckdb")
    r.json_object("LAKEHOUSE_STORAGE_OPTIONS")   # validated here, kept as a secret
    storage = Secret("LAKEHOUSE_STORAGE_OPTIONS", r.raw("LAKEHOUSE_STORAGE_OPTIONS"))
    overrides = {k[len(SOURCE_PREFIX):].lower(): v for k, v in r.env.items() if k.startswith(SOURCE_PREFIX) and v}
    home = Path(r.str("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").expanduser().resolve()
    shared = Path(r.str("FMLAKE_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")
    return CoreSettings(
        env=name, lakehouse_root=root, landing_root=landing, catalog_path=catalog, storage_options=storage,
        source_overrides=overrides,
        dbt_target=r.str("DBT_TARGET", "prod" if name == "prod" else "dev"),
        landing_settle_seconds=r.num("FMLAKE_LANDING_SETTLE_SECONDS", float, 0.0 if name == "test" else 30.0,
                                     minimum=0),
        dagster_home=home, shared_data=shared)


def _llm(r: _Reader) -> LLMSettings:
    hosts = r.csv("OLLAMA_HOSTS") or (r.str("OLLAMA_HOST", DEFAULT_OLLAMA_HOST),)
    for host in hosts:
        if not host.startswith(("http://", "https://")):
            raise SettingsError(f"Ollama host {host!r} (OLLAMA_HOST/OLLAMA_HOSTS) must start with http:// or https://")
    options = r.json_object("FMLAKE_LLM_OPTIONS")
    return LLMSettings(
        backend=r.choice("FMLAKE_LLM_BACKEND", LLM_BACKENDS, "embedded"),
        hosts=tuple(h.rstrip("/") for h in hosts),
        models=r.csv("FMLAKE_LLM_MODELS"),
        timeout_s=r.num("FMLAKE_LLM_TIMEOUT_S", float, 120.0, minimum=0.001),
        max_retries=r.num("FMLAKE_LLM_MAX_RETRIES", int, 3, minimum=0),
        max_concurrency=r.num("FMLAKE_LLM_MAX_CONCURRENCY", int, 4, minimum=1),
        options_json=json.dumps(options),
        max_answer_bytes=r.num("FMLAKE_LLM_MAX_ANSWER_BYTES", int, 16 * 1024 * 1024, minimum=1024),
        host_failures=r.num("FMLAKE_LLM_HOST_FAILURES", int, 3, minimum=1),
        host_cooldown_s=r.num("FMLAKE_LLM_HOST_COOLDOWN_S", float, 30.0, minimum=0))


def _imagery(r: _Reader) -> ImagerySettings:
    k_min = r.num("IMAGERY_K_MIN", int, 6)
    k_max = r.num("IMAGERY_K_MAX", int, 12)
    if not 2 <= k_min <= k_max:
        raise SettingsError(f"IMAGERY_K_MIN and IMAGERY_K_MAX must satisfy 2 <= k_min <= k_max, "
                            f"got {k_min} and {k_max}")
    return ImagerySettings(
        segmenter=r.choice("IMAGERY_SEGMENTER", SEGMENTER_BACKENDS, "default"),
        band_roles=r.str("IMAGERY_BAND_ROLES"),
        window_size=r.num("IMAGERY_WINDOW_SIZE", int, 512, minimum=16),
        window_overlap=r.num("IMAGERY_WINDOW_OVERLAP", int, 32, minimum=0),
        min_mask_area_px=r.num("IMAGERY_MIN_MASK_AREA_PX", int, 16, minimum=1),
        sam_model_type=r.choice("IMAGERY_SAM_MODEL_TYPE", ("vit_b", "vit_l", "vit_h"), "vit_b"),
        sam_checkpoint=r.str("IMAGERY_SAM_CHECKPOINT"),
        sam_device=r.str("IMAGERY_SAM_DEVICE", "cpu"),
        sam_points_per_side=r.num("IMAGERY_SAM_POINTS_PER_SIDE", int, 32, minimum=1),
        sam_pred_iou_thresh=r.num("IMAGERY_SAM_PRED_IOU_THRESH", float, 0.88, minimum=0, maximum=1),
        sam_stability_score_thresh=r.num("IMAGERY_SAM_STABILITY_SCORE_THRESH", float, 0.95, minimum=0, maximum=1),
        namer=r.choice("IMAGERY_NAMER", NAMER_BACKENDS, "rules"),
        namer_model=r.str("IMAGERY_NAMER_MODEL"),
        namer_checkpoint=r.str("IMAGERY_NAMER_CHECKPOINT"),
        namer_device=r.str("IMAGERY_NAMER_DEVICE", "cpu"),
        k_min=k_min, k_max=k_max)


def _search(r: _Reader) -> SearchSettings:
    return SearchSettings(
        embedder=r.choice("SEARCH_EMBEDDER", EMBEDDER_BACKENDS, "use"),
        embedder_model_path=r.str("SEARCH_EMBEDDER_MODEL_PATH"),
        ollama_model=r.str("SEARCH_OLLAMA_MODEL", "nomic-embed-text"),
        embedder_threads=r.num("SEARCH_EMBEDDER_THREADS", int, 1, minimum=1),
        embedder_workers=r.num("SEARCH_EMBEDDER_WORKERS", int, 2, minimum=1),
        fusion=r.choice("SEARCH_FUSION", ("weighted", "rrf"), "weighted"),
        alpha=r.num("SEARCH_ALPHA", float, 0.6, minimum=0, maximum=1),
        expand_weight=r.num("SEARCH_EXPAND_WEIGHT", float, 0.6, minimum=0, maximum=1),
        vector_index=r.choice("SEARCH_VECTOR_INDEX", ("auto", "exact", "binary", "hnsw"), "auto"),
        exact_max_vectors=r.num("SEARCH_EXACT_MAX_VECTORS", int, 20000, minimum=1))


def _coding(r: _Reader) -> CodingSettings:
    return CodingSettings(
        retrain_after_decisions=r.num("FMLAKE_CODING_RETRAIN_AFTER_DECISIONS", int, 20, minimum=1),
        workbench_port=r.num("FMLAKE_CODING_WORKBENCH_PORT", int, 8040, minimum=0, maximum=65535),
        claim_minutes=r.num("FMLAKE_CODING_CLAIM_MINUTES", float, 10.0, minimum=0.1))


def _documents(r: _Reader) -> DocumentsSettings:
    return DocumentsSettings(model=r.str("FMLAKE_DOCS_MODEL", "mixtral:8x7b"),
                             instructions_dir=r.str("FMLAKE_DOC_INSTRUCTIONS_DIR"))


EXECUTORS = ("multiprocess", "celery")


def _cluster(r: _Reader, core: CoreSettings) -> ClusterSettings:
    endpoint = r.str("FMLAKE_S3_ENDPOINT").rstrip("/")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"FMLAKE_S3_ENDPOINT {endpoint!r} must start with http:// or https://")
    broker = r.str("FMLAKE_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    if not broker.startswith(("redis://", "rediss://", "amqp://", "pyamqp://")):
        raise SettingsError(f"FMLAKE_CELERY_BROKER {broker!r} must be a redis:// or amqp:// URL")
    cluster_dir = PROJECT_ROOT / "data" / "cluster"
    return ClusterSettings(
        executor=r.choice("FMLAKE_EXECUTOR", EXECUTORS, "multiprocess"),
        broker_url=broker,
        result_backend=r.str("FMLAKE_CELERY_BACKEND", "redis://127.0.0.1:6379/1"),
        visibility_timeout_s=r.num("FMLAKE_CELERY_VISIBILITY_TIMEOUT_S", float, 3600.0, minimum=1),
        pg_host=r.str("DAGSTER_PG_HOST", "127.0.0.1"),
        pg_port=r.num("DAGSTER_PG_PORT", int, 5432, minimum=1, maximum=65535),
        pg_db=r.str("DAGSTER_PG_DB", "dagster"),
        pg_user=r.str("DAGSTER_PG_USERNAME", "dagster"),
        pg_password=Secret("DAGSTER_PG_PASSWORD", r.raw("DAGSTER_PG_PASSWORD")),
        s3_endpoint=endpoint,
        s3_region=r.str("AWS_REGION", "us-east-1"),
        s3_access_key_id=Secret("AWS_ACCESS_KEY_ID", r.raw("AWS_ACCESS_KEY_ID")),
        s3_secret_access_key=Secret("AWS_SECRET_ACCESS_KEY", r.raw("AWS_SECRET_ACCESS_KEY")),
        artifact_cache=Path(r.str("FMLAKE_ARTIFACT_CACHE") or cluster_dir / "artifact_cache").expanduser(),
        compute_logs_dir=Path(r.str("FMLAKE_COMPUTE_LOGS_DIR") or cluster_dir / "compute_logs").expanduser())


def _limits(r: _Reader) -> LimitsSettings:
    mib = 1024 * 1024
    return LimitsSettings(
        max_landing_file_bytes=int(r.num("FMLAKE_MAX_LANDING_FILE_MB", float, 512.0, minimum=0.001) * mib),
        max_field_chars=r.num("FMLAKE_MAX_FIELD_CHARS", int, 1_000_000, minimum=1),
        max_json_depth=r.num("FMLAKE_MAX_JSON_DEPTH", int, 64, minimum=2, maximum=500),
        max_records_per_file=r.num("FMLAKE_MAX_RECORDS_PER_FILE", int, 5_000_000, minimum=1),
        max_request_bytes=int(r.num("FMLAKE_MAX_REQUEST_KB", float, 64.0, minimum=1) * 1024),
        max_raster_pixels=int(r.num("FMLAKE_MAX_RASTER_MEGAPIXELS", float, 500.0, minimum=0.001) * 1_000_000))


def _delta(r: _Reader) -> DeltaSettings:
    d = DeltaSettings()
    return DeltaSettings(
        commit_retries=r.num("LAKEHOUSE_COMMIT_RETRIES", int, d.commit_retries, minimum=0, maximum=1000),
        vacuum_retention_hours=r.num("LAKEHOUSE_VACUUM_RETENTION_HOURS", int, d.vacuum_retention_hours,
                                     minimum=1),
        compact_target_mb=r.num("LAKEHOUSE_COMPACT_TARGET_MB", int, d.compact_target_mb, minimum=1))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Every setting from ``env`` (default: the process environment); a bad value raises
    :class:`SettingsError` naming the variable."""
    r = _TrackingReader(os.environ if env is None else env)
    core = _core(r)
    return Settings(core=core, llm=_llm(r), imagery=_imagery(r), search=_search(r), documents=_documents(r),
                    coding=_coding(r), cluster=_cluster(r, core), limits=_limits(r), delta=_delta(r))


def known_variables() -> set[str]:
    """Every variable :func:`load_settings` reads (``FMLAKE_SOURCE_<NAME>`` stands for the family)."""
    load_settings({})
    return {*KNOWN_VARIABLES, f"{SOURCE_PREFIX}<NAME>"}


# a process started from these settings (a Celery worker, a server) also needs these to run at all
_PROCESS_BASICS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "HF_HUB_OFFLINE",
                   "TRANSFORMERS_OFFLINE", "PYTHONUNBUFFERED")


def settings_environment(env: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment a process started from the settings gets, passed explicitly (Celery workers do not
    inherit the launcher's environment): every variable the settings read that ``env`` (default: the process
    environment) sets, ``FMLAKE_SOURCE_*`` included, plus the few a process needs (PATH, HOME, ...), then
    ``overrides``. It holds the secrets' values: hand it to ``subprocess`` only, never print it."""
    env = os.environ if env is None else env
    known = known_variables() - {f"{SOURCE_PREFIX}<NAME>"}
    out = {k: v for k, v in env.items() if k in known or k in _PROCESS_BASICS or k.startswith(SOURCE_PREFIX)}
    out.update(overrides)
    return out
