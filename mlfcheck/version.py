"""The version of mlfcheck: its own module, so nothing imports the package root to read it."""

__version__ = "0.1.0"
