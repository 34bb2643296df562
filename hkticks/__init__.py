"""hkticks: live Hong Kong Stock Connect trades over one WebSocket."""

__version__ = "0.1.0"
