"""Processing Dock's engine: the job store, its state machine, the worker and the handlers (never Qt)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("processing-dock")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
