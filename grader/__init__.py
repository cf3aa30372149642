"""Automated grading of PyTorch CNN assignments: ingest, sandbox, checks, reports."""

__version__ = "0.1.0"
