"""Reference implementations for CSC413/2516 PA2: models, data pipeline, training, fine-tuning.

This package is the specification the grader measures students against. It never imports `grader`.
"""
