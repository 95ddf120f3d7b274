"""Every table of every domain, as the explicit list ``ALL_TABLES`` that ``lakehouse.registry`` is built from.

Each domain module declares its :class:`~lakehouse.spec.TableSpec` objects and lists them in its
``TABLES``; a table a module declares but does not list is not registered (a test checks none is left out).
"""

from lakehouse.spec import TableSpec
from lakehouse.tables import coding, documents, imagery, ingestion, news, search

DOMAIN_MODULES = (ingestion, news, coding, imagery, documents, search)

ALL_TABLES: tuple[TableSpec, ...] = tuple(spec for module in DOMAIN_MODULES for spec in module.TABLES)
