"""Importing this package registers every table of every domain (see lakehouse.registry)."""

from lakehouse.tables import coding, documents, imagery, ingestion, news, search  # noqa: F401
