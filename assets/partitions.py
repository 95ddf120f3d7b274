"""Partitions: daily news, and dynamic batches registered by the landing sensor."""

import dagster as dg

# A day is ingested once it is over (the 06:00 schedule takes yesterday).
TZ = "America/Mexico_City"   # the institute's clock: partitions and schedules follow it

news_daily = dg.DailyPartitionsDefinition(start_date="2020-01-01", timezone=TZ)

crime_narrative_batches = dg.DynamicPartitionsDefinition(name="crime_narrative_batches")
economic_activity_batches = dg.DynamicPartitionsDefinition(name="economic_activity_batches")
tile_batches = dg.DynamicPartitionsDefinition(name="tile_batches")

# landing source -> dynamic partitions definition the sensor feeds
BATCH_SOURCES: dict[str, dg.DynamicPartitionsDefinition] = {
    "crime_narratives": crime_narrative_batches,
    "economic_activity_text": economic_activity_batches,
    "tiles": tile_batches,
}
