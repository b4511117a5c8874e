"""mlip-bench."""
__version__ = "0.1.0"
