"""gbench: a benchmarking and evaluation suite for graph machine learning."""

__version__ = "0.1.0"
