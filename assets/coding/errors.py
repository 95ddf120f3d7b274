"""The coding engine's error type, below every engine module (features, memory, calibration, backends)."""


class EngineError(ValueError):
    """The engine was given data it cannot learn from or code (names what and where)."""
