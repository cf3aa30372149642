"""Fine-tuning stage: run a notebook's `train(args, model)` briefly and observe its effects.

`finetune_measured` is what the pipeline calls; the verdicts live in `grader.checks.finetune`.
"""

from grader.finetune.observe import finetune_measured, finetune_request, measured_from_result

__all__ = ["finetune_measured", "finetune_request", "measured_from_result"]
