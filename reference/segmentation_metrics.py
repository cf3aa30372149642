"""Binary segmentation metrics: the course's thresholded "mIOU" and a standard IoU.

The course's number (W2020 Part C, W2021 D) is the Kaggle-style thresholded IoU: per image,
IoU of the foreground only, smoothed with 1e-6, mapped to ceil(clamp(20 (iou - 0.5), 0, 10)) / 10,
averaged over the batch and then over batches. It is not a mean IoU: background is ignored, the
score is quantised in steps of 0.1, an image with no foreground predicted or present scores 1.0,
and because of the smoothing an IoU exactly on a threshold (e.g. 3/4) rounds *up* one step.
It is computed in float32, as the course's tensors were.

The standard IoU accumulates intersections and unions over the whole set (not per image), for
each of the two classes; the foreground value is the usual "IoU", the mean of the two is mIoU.
"""

from __future__ import annotations

import math

import torch

SMOOTH = 1e-6


def predicted_mask(logits: torch.Tensor) -> torch.Tensor:
    """Class index per pixel: argmax over dim 1 of Bx2xHxW logits (ties go to class 0)."""
    return logits.argmax(dim=1)


def thresholded_iou_scores(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image thresholded IoU score (B,) of BxHxW {0,1} prediction and target masks."""
    if pred.shape != target.shape or pred.dim() != 3:
        raise ValueError(
            f"expected two BxHxW masks, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    p = pred.bool()
    t = target.bool()
    intersection = (p & t).float().sum((1, 2))
    union = (p | t).float().sum((1, 2))
    iou = (intersection + SMOOTH) / (union + SMOOTH)
    return torch.clamp(20 * (iou - 0.5), 0, 10).ceil() / 10


def thresholded_iou(pred: torch.Tensor, target: torch.Tensor) -> float:
    """The course's per-batch value: mean of the per-image scores."""
    return float(thresholded_iou_scores(pred, target).mean())


class IoUAccumulator:
    """Collects both metrics over a sequence of batches of {0,1} masks."""

    def __init__(self) -> None:
        self.batch_scores: list[float] = []
        self.intersection = [0, 0]  # per class: background, foreground
        self.union = [0, 0]
        self.images = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.batch_scores.append(thresholded_iou(pred, target))
        p = pred.bool()
        t = target.bool()
        for cls, (pc, tc) in enumerate(((~p, ~t), (p, t))):
            self.intersection[cls] += int((pc & tc).sum())
            self.union[cls] += int((pc | tc).sum())
        self.images += pred.shape[0]

    def _class_iou(self, cls: int) -> float:
        if self.union[cls] == 0:
            return math.nan  # class absent from both prediction and truth: undefined
        return self.intersection[cls] / self.union[cls]

    def compute(self) -> dict[str, float]:
        """`iou_thresholded` (course), `iou` (foreground), `iou_background`, `miou` (mean of both).

        A class that appears in neither prediction nor truth has an undefined IoU (NaN) and is
        left out of `miou`.
        """
        if not self.batch_scores:
            raise ValueError("no batches were added")
        fg, bg = self._class_iou(1), self._class_iou(0)
        defined = [v for v in (bg, fg) if not math.isnan(v)]
        return {
            "iou_thresholded": sum(self.batch_scores) / len(self.batch_scores),
            "iou": fg,
            "iou_background": bg,
            "miou": sum(defined) / len(defined) if defined else math.nan,
        }
