"""Dagster definitions of the news domain (assets, checks, jobs, schedules, sensors; no resources)."""

import dagster as dg

defs = dg.Definitions()
