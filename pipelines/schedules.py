"""Schedules, one per natural cadence (times in Mexico City)."""

import dagster as dg

from pipelines.jobs import marts_job, monthly_recoding_job, news_daily_job, news_indicator_job
from assets.partitions import TZ
from assets.maintenance.defs import lakehouse_maintenance_job

# Yesterday's news partition, every morning at 06:00 Mexico City time (the partitions' timezone).
news_daily_schedule = dg.build_schedule_from_partitioned_job(news_daily_job, hour_of_day=6, minute_of_hour=0)

news_indicator_schedule = dg.ScheduleDefinition(
    job=news_indicator_job, cron_schedule="30 7 * * *", execution_timezone=TZ,
    description="After the daily news ingestion: LLM answers, municipality counts and the indicator.")

monthly_recoding_schedule = dg.ScheduleDefinition(
    job=monthly_recoding_job, cron_schedule="0 5 1 * *", execution_timezone=TZ,
    description="First day of each month: retrain with the month's human codes and recode.")

marts_schedule = dg.ScheduleDefinition(
    job=marts_job, cron_schedule="0 9 * * *", execution_timezone=TZ,
    description="Daily refresh of the dbt marts and the analysts' catalog.")

lakehouse_maintenance_schedule = dg.ScheduleDefinition(
    job=lakehouse_maintenance_job, cron_schedule="0 3 * * *", execution_timezone=TZ,
    description="Every night, before the news: compact and vacuum every Delta table (frees the files no live "
                "version needs, e.g. partial files of killed writers).")

schedules = [news_daily_schedule, news_indicator_schedule, monthly_recoding_schedule, marts_schedule, lakehouse_maintenance_schedule]
