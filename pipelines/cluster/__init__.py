"""Beyond one machine: the Celery executor and worker app, and the launcher that brings a cluster up on loopback.

- :mod:`pipelines.cluster.executor`: the Celery executor with the composition point's queue policy (a step
  whose pool is a GPU pool goes to the ``gpu`` queue, every other step to ``default``);
- :mod:`pipelines.cluster.celery_app`: the app the workers run (``celery -A pipelines.cluster.celery_app worker``),
  built from the same settings as the runs;
- :mod:`pipelines.cluster.services`: Postgres, Redis, the S3-compatible server, Celery workers, the Dagster
  webserver and daemon, each started with ``Popen(start_new_session=True)`` and stopped by pid;
- :mod:`pipelines.cluster_demo`: ``make cluster-demo`` (every asset through the Celery executor into ``s3://``).

Nothing here imports the definitions: workers load the code location by module name when a step arrives.
"""
