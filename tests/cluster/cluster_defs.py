"""The small code location the cluster tests' Celery workers load by module name (``tests.cluster.cluster_defs``).

Its executor is the project's (:func:`pipelines.definitions.build_executor`: Celery with the GPU pools policy),
its lakehouse the one of the settings (an ``s3://`` root on the tests' S3 server). The assets are made to be
interrupted: ``slow_part`` writes one partition of ``silver.cluster_parts`` after sleeping
``PartConfig.seconds``, and records in ``silver.cluster_attempts`` which worker ran it.
"""


import socket
import time

import dagster as dg

from pipelines.definitions import build_executor
from pipelines.settings import load_settings
from tests.cluster.tables import PARTS, ROWS_PER_PART, rows

__all__ = ["PARTS", "ROWS_PER_PART", "rows", "defs"]
parts = dg.StaticPartitionsDefinition([f"p{i}" for i in range(8)])


class PartConfig(dg.Config):
    seconds: float = 0.0


@dg.asset(key=["silver", "cluster_parts"], partitions_def=parts)
def slow_part(context: dg.AssetExecutionContext, config: PartConfig) -> dg.MaterializeResult:
    lh = load_settings().lakehouse()
    context.log.info(f"part {context.partition_key} on {socket.gethostname()} sleeping {config.seconds}s")
    time.sleep(config.seconds)
    written = lh.write(PARTS, rows(context.partition_key), mode="partitions")
    return dg.MaterializeResult(metadata={"version": written.version})


@dg.asset(key=["silver", "cluster_gpu_step"], pool="imagery_segmenter")
def gpu_step() -> dg.MaterializeResult:
    """A step of a GPU pool: the executor sends it to the gpu queue."""
    return dg.MaterializeResult()


defs = dg.Definitions(assets=[slow_part, gpu_step], executor=build_executor(load_settings()))
