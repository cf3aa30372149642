"""graph stage: capture a forward pass as data, replay it from data, measure observations.

`capture_graph` runs wherever the model runs (inside the sandbox for students); `replay` and
`measure` are the trusted side and never run student code. See docs/architecture.md.
"""

from grader.graph.capture import CaptureLimit, capture_graph
from grader.graph.inputs import make_input, make_projection
from grader.graph.measure import measure, measure_class, measure_target
from grader.graph.replay import ReplayError, is_deterministic, replay

__all__ = ["CaptureLimit", "ReplayError", "capture_graph", "is_deterministic", "make_input",
           "make_projection", "measure", "measure_class", "measure_target", "replay"]
