"""The Celery executor of the cluster profile, with one routing policy: steps of the GPU pools go to ``gpu``.

The policy (which pools need a GPU node) is the composition point's (:mod:`pipelines.definitions`); this module
applies it when the step is submitted. Pools still hold: dagster-celery's loop claims the instance's pool
slots (``concurrency.pools`` of the instance) before a step is submitted.
"""

from __future__ import annotations

from typing import Iterable

import dagster as dg

from pipelines.settings import ClusterSettings

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"
QUEUES = (DEFAULT_QUEUE, GPU_QUEUE)


def celery_app_config(cluster: ClusterSettings) -> dict:
    """Celery settings the runs (submitting) and the workers (executing) share."""
    return {
        "task_default_queue": DEFAULT_QUEUE,
        # a step is acknowledged when it finished, not when a worker took it: a worker that dies mid-step
        # leaves it in the broker, which hands it to another worker (after the visibility timeout on Redis)
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": cluster.visibility_timeout_s,
                                     "max_retries": 3, "interval_start": 0, "interval_step": 0.2,
                                     "interval_max": 0.5},
        "result_backend_transport_options": {"visibility_timeout": cluster.visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
    }


def queue_for_pool(pool: str | None, gpu_pools: Iterable[str]) -> str:
    return GPU_QUEUE if pool and pool in set(gpu_pools) else DEFAULT_QUEUE


def routed_celery_executor(cluster: ClusterSettings, gpu_pools: Iterable[str]) -> dg.ExecutorDefinition:
    """The Celery executor on the broker of ``cluster``, sending steps of ``gpu_pools`` to the ``gpu`` queue."""
    from dagster_celery.core_execution_loop import core_celery_execution_loop
    from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor, _submit_task
    from dagster._core.execution.retries import RetryMode

    gpu = frozenset(gpu_pools)

    class RoutedCeleryExecutor(CeleryExecutor):
        def execute(self, plan_context, execution_plan):
            def submit(app, context, step, queue, priority, known_state):
                routed = queue_for_pool(getattr(step, "pool", None), gpu) if queue == DEFAULT_QUEUE else queue
                if routed != queue:
                    context.instance.report_engine_event(
                        f'step "{step.key}" (pool {step.pool}) goes to queue "{routed}" (GPU pools policy of '
                        "pipelines.definitions)", context.dagster_run, step_key=step.key)
                return _submit_task(app, context, step, routed, priority, known_state)

            return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)

    defaults = {"broker": cluster.broker_url, "backend": cluster.result_backend,
                "config_source": celery_app_config(cluster)}

    # dagster-celery's schema defaults the backend to rpc:// (AMQP only): here broker and backend default to
    # the settings', so runs read results where the workers (pipelines.cluster.celery_app) write them
    schema = {**CELERY_CONFIG,
              "broker": dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None),
              "backend": dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None)}

    @dg.executor(name="celery", config_schema=schema,
                 requirements=dg.multiple_process_executor_requirements())
    def celery(init_context):
        config = init_context.executor_config
        return RoutedCeleryExecutor(
            broker=config.get("broker") or defaults["broker"],
            backend=config.get("backend") or defaults["backend"],
            config_source={**defaults["config_source"], **(config.get("config_source") or {})},
            include=config.get("include"),
            retries=RetryMode.from_config(config["retries"]))

    return celery
