"""The Celery app every worker runs: ``celery -A pipelines.cluster.celery_app worker -Q default[,gpu]``.

Built from the settings of the worker's own environment (the launcher passes it explicitly,
:func:`pipelines.settings.settings_environment`), the same broker and options the runs submit with. The task
is dagster-celery's ``execute_plan``: the worker loads the code location by module name when a step arrives
(restart workers on deploy: they keep the code they loaded).
"""

from __future__ import annotations

from celery import Celery
from dagster_celery.tasks import create_task
from kombu import Queue

from pipelines.cluster.executor import QUEUES, celery_app_config
from pipelines.settings import load_settings


def make_worker_app(env=None) -> Celery:
    """The app of the settings of ``env`` (default: this process's environment)."""
    cluster = load_settings(env).cluster
    app = Celery("dagster", broker=cluster.broker_url, backend=cluster.result_backend)
    app.conf.update(celery_app_config(cluster))
    app.conf.task_queues = [Queue(q, routing_key=f"{q}.#") for q in QUEUES]
    app.conf.worker_hijack_root_logger = False
    return app


app = make_worker_app()
execute_plan = create_task(app)
