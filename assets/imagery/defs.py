"""Dagster definitions of the imagery domain (assets, checks, jobs, schedules, sensors; no resources)."""

import dagster as dg

defs = dg.Definitions()
