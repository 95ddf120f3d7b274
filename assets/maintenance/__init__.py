"""Maintenance of the lakehouse: compaction and vacuum of every Delta table, on a schedule."""
