"""DuckDB connections with the offline extensions (delta, fts, vss) available.

The extensions ship as PyPI packages (``duckdb-extension-delta`` ...); ``duckdb_extensions``
installs them into DuckDB's extension folder without any network access.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb


@cache
def install_extension(name: str) -> None:
    """Install a packaged DuckDB extension into the local extension directory (once per process)."""
    from duckdb_extensions import import_extension

    con = duckdb.connect()
    try:
        import_extension(name, con=con)
    finally:
        con.close()


# The extensions dbt's profile loads (dbt_project/profiles.yml `extensions:`; a test keeps the two equal). dbt
# runs `INSTALL` on each when it connects: one not yet in DuckDB's extension folder is fetched from the network,
# so every dbt run first installs these from their packages.
DBT_EXTENSIONS = ("delta", "httpfs")


def install_dbt_extensions() -> None:
    """Install the extensions dbt's profile loads (``DBT_EXTENSIONS``) from their packages, offline."""
    for name in DBT_EXTENSIONS:
        install_extension(name)


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def s3_secret_sql(storage_options: dict[str, str] | None, name: str = "fmlake_s3") -> str | None:
    """The ``CREATE SECRET`` giving DuckDB (httpfs) the object store of deltalake-style ``storage_options``
    (``AWS_ENDPOINT_URL``, keys, region); None when they name no S3 endpoint or key. Never log it."""
    opts = {k.upper(): v for k, v in (storage_options or {}).items()}
    if not any(k in opts for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_ACCESS_KEY_ID")):
        return None
    parts = ["TYPE s3"]
    if opts.get("AWS_ACCESS_KEY_ID"):
        parts += [f"KEY_ID {_literal(opts['AWS_ACCESS_KEY_ID'])}",
                  f"SECRET {_literal(opts.get('AWS_SECRET_ACCESS_KEY', ''))}"]
    if opts.get("AWS_SESSION_TOKEN"):
        parts.append(f"SESSION_TOKEN {_literal(opts['AWS_SESSION_TOKEN'])}")
    parts.append(f"REGION {_literal(opts.get('AWS_REGION', 'us-east-1'))}")
    endpoint = opts.get("AWS_ENDPOINT_URL") or opts.get("AWS_ENDPOINT")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        parts += [f"ENDPOINT {_literal(host.rstrip('/'))}", f"USE_SSL {'false' if scheme == 'http' else 'true'}",
                  "URL_STYLE 'path'"]
    return f"CREATE OR REPLACE SECRET {name} ({', '.join(parts)})"


def connect(database: str | Path = ":memory:", read_only: bool = False,
            extensions: tuple[str, ...] = ("delta",), config: dict | None = None,
            storage_options: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with ``extensions`` loaded (offline); with object-store ``storage_options`` also httpfs and
    a session secret for the endpoint, so ``delta_scan('s3://...')`` and ``read_parquet('s3://...')`` work."""
    secret = s3_secret_sql(storage_options)
    if secret and "httpfs" not in extensions:
        extensions = (*extensions, "httpfs")
    for ext in extensions:
        install_extension(ext)
    # never fetch an extension from the network: everything loads from the installed packages
    con = duckdb.connect(str(database), read_only=read_only,
                         config={"autoinstall_known_extensions": False, **(config or {})})
    for ext in extensions:
        con.load_extension(ext)
    if secret:
        con.execute(secret)
    return con
