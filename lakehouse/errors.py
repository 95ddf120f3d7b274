"""Errors raised by the lakehouse layer. Each message names the table, and the file/row/column at fault."""


class LakehouseError(Exception):
    """Base class for every lakehouse error."""


class SchemaError(LakehouseError):
    """Data does not match the declared schema of a table; nothing was written."""


class LandingFileError(LakehouseError):
    """A landing file could not be read or parsed. ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
