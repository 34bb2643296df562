"""Measurements of hkticks components (figures for `hkticks bench`, not tests)."""
