"""LakehouseResource: the Delta tables and the landing zone, as a typed Dagster resource."""

from __future__ import annotations

import json

import dagster as dg
from pydantic import PrivateAttr

from lakehouse import Lakehouse
from lakehouse.landing import Landing, ReadLimits


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
    # the Delta write path and its maintenance (settings DeltaSettings: LAKEHOUSE_COMMIT_RETRIES,
    # LAKEHOUSE_VACUUM_RETENTION_HOURS, LAKEHOUSE_COMPACT_TARGET_MB)
    commit_retries: int = 25
    vacuum_retention_hours: int = 168
    compact_target_mb: int = 128
    # an S3-compatible endpoint (MinIO, Ceph RGW); the keys come as dg.EnvVar("AWS_ACCESS_KEY_ID"/...)
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # this node's copy of the artifacts of an object-store root
    artifact_cache: str = ""

    # bounds on what one landing file may make a reader spend (settings LimitsSettings, FMLAKE_MAX_*)
    max_landing_file_bytes: int = 512 * 1024 * 1024
    max_field_chars: int = 1_000_000
    max_json_depth: int = 64
    max_records_per_file: int = 5_000_000
    max_raster_pixels: int = 500_000_000

    _lakehouse: Lakehouse | None = PrivateAttr(default=None)

    @property
    def lakehouse(self) -> Lakehouse:
        if self._lakehouse is None:
            lakehouse = Lakehouse(self.root, self.storage_options(), commit_retries=self.commit_retries)
            lakehouse.artifact_cache = self.artifact_cache or None
            # an object store that refuses the credentials (or does not answer) is one clear error naming the
            # endpoint, before the step reads or writes anything
            lakehouse.artifacts.check_access()
            self._lakehouse = lakehouse
        return self._lakehouse

    def storage_options(self) -> dict[str, str]:
        """deltalake/obstore options: the S3 endpoint fields, then ``storage_options_json`` on top."""
        options: dict[str, str] = {}
        if self.s3_endpoint:
            options.update(AWS_ENDPOINT_URL=self.s3_endpoint, AWS_REGION=self.s3_region,
                           AWS_ALLOW_HTTP="true" if self.s3_endpoint.startswith("http://") else "false")
            if self.s3_access_key_id:
                options["AWS_ACCESS_KEY_ID"] = self.s3_access_key_id
            if self.s3_secret_access_key:
                options["AWS_SECRET_ACCESS_KEY"] = self.s3_secret_access_key
        options.update(json.loads(self.storage_options_json or "{}"))
        return options

    @property
    def landing(self) -> Landing:
        return Landing(self.landing_root, self.source_overrides, limits=ReadLimits(
            max_file_bytes=self.max_landing_file_bytes, max_field_chars=self.max_field_chars,
            max_json_depth=self.max_json_depth, max_records=self.max_records_per_file,
            max_raster_pixels=self.max_raster_pixels))
