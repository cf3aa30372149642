"""Stages a grader runs for one submission beyond observing its models (training, ...).

They sit above the rubric and the stage packages they drive (`grader.training`, the sandbox),
and below the pipeline that calls them.
"""
