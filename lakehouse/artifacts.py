"""Files that are not tables (models, exports, pictures, charts, document drafts, the site) under the data root.

One filesystem library for every artifact: **obstore** (the Python face of the Rust ``object_store`` crate,
the same one deltalake writes the Delta tables with). It takes the same options deltalake takes
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_ALLOW_HTTP`` ...), so one set of storage options, built once
by the settings, reaches tables and artifacts alike; it has no botocore/aiobotocore pins to fight moto or
dagster-aws over (s3fs has), and no process-exit finalizer to forget (pyarrow's S3 filesystem has).

Code that writes artifacts is ordinary file code: :meth:`Artifacts.directory` gives it a local folder. With a
local root that folder *is* ``<root>/<parts>``. With an object-store root it is a mirror under the node's
cache (``FMLAKE_ARTIFACT_CACHE``): filled from ``<root>/<parts>`` on entry, uploaded on a clean exit (new and
changed files put, files removed locally deleted remotely, with ``clear=True`` the prefix starts empty), and
left untouched remotely when the block raises. Paths recorded in tables go through :meth:`Artifacts.location`
(a local path, or the object's URI), and a reader on any node gets a local file back with :meth:`fetch`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from lakehouse.errors import LakehouseError

# deltalake option names -> object_store (obstore) S3 config keys
_S3_KEYS = {
    "AWS_ENDPOINT_URL": "endpoint", "AWS_ENDPOINT": "endpoint", "AWS_REGION": "region",
    "AWS_ACCESS_KEY_ID": "access_key_id", "AWS_SECRET_ACCESS_KEY": "secret_access_key",
    "AWS_SESSION_TOKEN": "session_token", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "virtual_hosted_style_request",
}


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``s3://bucket``, ``a/b``)."""
    scheme, rest = uri.split("://", 1)
    bucket, _, key = rest.partition("/")
    return f"{scheme}://{bucket}", key.strip("/")


def object_store(uri: str, storage_options: dict[str, str] | None = None):
    """An obstore store for the bucket of ``uri`` built from deltalake-style ``storage_options``."""
    from obstore.store import from_url

    base, _ = split_uri(uri)
    options = {k.upper(): v for k, v in (storage_options or {}).items()}
    config = {_S3_KEYS[k]: v for k, v in options.items() if k in _S3_KEYS}
    client = {"allow_http": options.get("AWS_ALLOW_HTTP", "false").lower() == "true",
              "timeout": options.get("TIMEOUT", "60s"), "connect_timeout": options.get("CONNECT_TIMEOUT", "10s")}
    retry = {"max_retries": int(options.get("MAX_RETRIES", "2")), "retry_timeout": timedelta(seconds=30)}
    return from_url(base, config=config or None, client_options=client, retry_config=retry)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Artifacts:
    """The artifact files under one data root (local path or ``s3://bucket/prefix``)."""

    def __init__(self, root: str, storage_options: dict[str, str] | None = None,
                 cache_dir: str | os.PathLike | None = None):
        self.root = root.rstrip("/")
        self.remote = "://" in root and not root.startswith("file://")
        self.storage_options = dict(storage_options or {})
        self.cache_dir = Path(cache_dir or Path.home() / ".cache" / "fmlake-artifacts").expanduser().resolve()
        self._store = None

    # ------------------------------------------------------------------ locations
    @property
    def store(self):
        if self._store is None:
            self._store = object_store(self.root, self.storage_options)
        return self._store

    def _key(self, *parts: str) -> str:
        _, prefix = split_uri(self.root)
        return "/".join(p.strip("/") for p in (prefix, *parts) if p and p.strip("/"))

    def _mirror(self, *parts: str) -> Path:
        base, prefix = split_uri(self.root)
        return self.cache_dir.joinpath(base.replace("://", "_"), *(p for p in prefix.split("/") if p), *parts)

    @property
    def endpoint(self) -> str:
        opts = {k.upper(): v for k, v in self.storage_options.items()}
        return opts.get("AWS_ENDPOINT_URL") or opts.get("AWS_ENDPOINT") or "the default endpoint of " + \
            self.root.split("://", 1)[0]

    def check_access(self) -> None:
        """One listing under the root: refused credentials, a missing bucket or an endpoint that does not
        answer become one :class:`LakehouseError` naming the endpoint and the root (never the keys)."""
        if not self.remote:
            return
        import obstore.exceptions as E

        try:
            for _ in self.store.list(self._key() + "/", chunk_size=1):
                break
        except (E.UnauthenticatedError, E.PermissionDeniedError) as exc:
            raise LakehouseError(self._refused(exc)) from None
        except E.NotFoundError:
            raise LakehouseError(f"object store {self.endpoint}: no bucket for {self.root}") from None
        except E.BaseError as exc:
            text = str(exc)
            if any(code in text for code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")):
                raise LakehouseError(self._refused(exc)) from None
            if "NoSuchBucket" in text or "404" in text:
                raise LakehouseError(f"object store {self.endpoint}: no bucket for {self.root}") from None
            raise LakehouseError(f"object store {self.endpoint} does not answer for {self.root}: "
                                 f"{text.splitlines()[0][:300]}") from None

    def _refused(self, exc: Exception) -> str:
        text = str(exc)
        code = next((c for c in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied") if c in text), "403")
        return (f"object store {self.endpoint} refused the credentials for {self.root} ({code}): check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or LAKEHOUSE_STORAGE_OPTIONS); nothing was written")

    def location(self, path: str | os.PathLike) -> str:
        """What to record in a table for a file written under :meth:`directory`: the local path with a local
        root, the object's URI (``s3://...``) with an object-store root."""
        if not self.remote:
            return str(path)
        mirror = self._mirror()
        rel = Path(path).resolve().relative_to(mirror)
        return f"{self.root}/{rel.as_posix()}"

    # ------------------------------------------------------------------ reading
    def fetch(self, location: str | os.PathLike) -> Path:
        """A local file for a recorded ``location`` (a path, or an URI under this root downloaded to the cache).

        A URI names a file or a folder (a model directory): a folder is downloaded whole."""
        location = str(location)
        if "://" not in location or location.startswith("file://"):
            return Path(location.removeprefix("file://"))
        if not self.remote or not location.startswith(self.root + "/"):
            raise LakehouseError(f"{location} is not under the data root {self.root}")
        rel = location[len(self.root) + 1:]
        local = self._mirror(rel)
        self._download(rel, local)
        if not local.exists():
            raise LakehouseError(f"artifact {location} does not exist (nothing under it at "
                                 f"{self.storage_options.get('AWS_ENDPOINT_URL', 'the object store')})")
        return local

    def list(self, *parts: str) -> list[str]:
        """Keys (relative to ``<root>/<parts>``) of the files stored there."""
        if not self.remote:
            base = Path(self.root, *parts)
            return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) \
                if base.is_dir() else []
        prefix = self._key(*parts)
        out = []
        for batch in self.store.list(prefix + "/" if prefix else None):
            for meta in batch:
                out.append(meta["path"][len(prefix) + 1:] if prefix else meta["path"])
        return sorted(out)

    def _remote_objects(self, prefix: str) -> dict[str, dict]:
        found = {}
        for batch in self.store.list(prefix + "/"):
            for meta in batch:
                found[meta["path"][len(prefix) + 1:]] = meta
        return found

    def _download(self, rel: str, local: Path) -> None:
        import obstore

        key = self._key(rel)
        objects = self._remote_objects(key)
        if not objects:   # a single file (or nothing)
            try:
                data = obstore.get(self.store, key).bytes()
            except FileNotFoundError:
                return
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(bytes(data))
            return
        for name, meta in objects.items():
            target = local / name
            if target.is_file() and target.stat().st_size == meta["size"] and meta.get("e_tag", "").strip('"') \
                    == _md5(target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
            tmp.write_bytes(bytes(obstore.get(self.store, meta["path"]).bytes()))
            os.replace(tmp, target)

    # ------------------------------------------------------------------ writing
    @contextmanager
    def directory(self, *parts: str, clear: bool = False) -> Iterator[Path]:
        """A local folder for ``<root>/<parts>`` (see the module docstring); with ``clear`` it starts empty
        (what a previous run wrote there is removed once the block succeeds)."""
        if not self.remote:
            path = Path(self.root, *parts)
            if clear and path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True)
            yield path
            return
        mirror = self._mirror(*parts)
        if mirror.exists():
            shutil.rmtree(mirror)
        mirror.mkdir(parents=True, exist_ok=True)
        if not clear:
            self._download("/".join(parts), mirror)
        yield mirror
        self.upload(mirror, *parts)

    def upload(self, local: Path, *parts: str) -> list[str]:
        """Make ``<root>/<parts>`` hold exactly the files of the local folder ``local``; returns the keys put."""
        import obstore

        prefix = self._key(*parts)
        before = self._remote_objects(prefix)
        put = []
        files = {p.relative_to(local).as_posix(): p for p in sorted(local.rglob("*"))
                 if p.is_file() and not any(part.startswith(".") for part in p.relative_to(local).parts)}
        for name, path in files.items():
            meta = before.get(name)
            if meta is not None and meta["size"] == path.stat().st_size \
                    and meta.get("e_tag", "").strip('"') == _md5(path):
                continue
            obstore.put(self.store, f"{prefix}/{name}", path)
            put.append(name)
        stale = [f"{prefix}/{name}" for name in before if name not in files]
        if stale:
            obstore.delete(self.store, stale)
        return put
