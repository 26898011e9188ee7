"""The package version: recorded in every cache entry, so a new version recomputes."""

__version__ = "0.1.0"
