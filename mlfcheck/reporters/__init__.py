"""Reporters: the only code that turns results into text. Each returns a string."""
