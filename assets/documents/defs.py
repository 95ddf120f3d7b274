"""Dagster definitions of the documents domain (assets, checks, jobs, schedules, sensors; no resources)."""

import dagster as dg

defs = dg.Definitions()
