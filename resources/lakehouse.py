"""LakehouseResource: the Delta tables and the landing zone, as a typed Dagster resource."""

from __future__ import annotations

import json

import dagster as dg
from pydantic import PrivateAttr

from lakehouse import Lakehouse
from lakehouse.landing import Landing


class LakehouseResource(dg.ConfigurableResource):
    """Where the lakehouse lives. ``root`` is a path or object-store URI; ``landing_root`` is local.

    ``source_overrides`` points a landing source at another folder or file (e.g. the real data in
    ``../shared/data``) without copying it. ``storage_options_json`` holds object-store credentials: it is
    given as ``dg.EnvVar("LAKEHOUSE_STORAGE_OPTIONS")`` (see pipelines/resources.py), never as a value.
    """

    root: str
    landing_root: str
    storage_options_json: str = "{}"
    source_overrides: dict[str, str] = {}
    # the landing sensor takes a batch once its files have not changed for this long
    landing_settle_seconds: float = 30.0

    _lakehouse: Lakehouse | None = PrivateAttr(default=None)

    @property
    def lakehouse(self) -> Lakehouse:
        if self._lakehouse is None:
            self._lakehouse = Lakehouse(self.root, json.loads(self.storage_options_json or "{}"))
        return self._lakehouse

    @property
    def landing(self) -> Landing:
        return Landing(self.landing_root, self.source_overrides)
