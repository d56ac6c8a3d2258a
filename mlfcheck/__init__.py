"""mlfcheck: validate, diff, export and fuzz Apache TVM Model Library Format archives."""

__version__ = "0.1.0"
