"""Fuzzing: model and mutation strategies, the properties they must keep, and the campaign runner.

Nothing here imports TVM at import time; the exporter target imports it in child processes.
"""
