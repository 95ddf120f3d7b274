"""Dagster definitions of the search domain (assets, checks, jobs, schedules, sensors; no resources)."""

import dagster as dg

defs = dg.Definitions()
