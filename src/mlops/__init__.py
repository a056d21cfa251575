"""mlops: a local, CLI-driven MLOps toolkit."""

__version__ = "0.1.0"
