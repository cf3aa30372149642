"""Trusted side of the accuracy check: data packs, reference calibration, measured results.

The student's model is trained inside the sandbox by `grader.sandbox.tasks.train`; the reference
is trained here, in-process, by the very same `train_class` function on the very same data pack.
"""

from grader.training.calibrate import calibrate, calibration_key, calibration_runs
from grader.training.data import DataPack, build_pack, cache_root
from grader.training.measured import train_request, training_measured

__all__ = ["DataPack", "build_pack", "cache_root", "calibrate", "calibration_key",
           "calibration_runs", "train_request", "training_measured"]
