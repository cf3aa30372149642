"""The seeded tensors both sides must agree on: model inputs and the gradient projection.

The sandbox and the trusted replay each make them from (shape, seed) alone, so no input tensor
ever has to cross the sandbox boundary and both sides see the very same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

PROJECTION_OFFSET = 7_919  # the projection's seed is the run's seed plus this


def make_input(shape: Sequence[int], seed: int) -> torch.Tensor:
    """A standard-normal float32 input of `shape`, reproducible from `seed`."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn([int(s) for s in shape], generator=generator)


def make_projection(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Fixed random weights for `loss = (output * R).sum()`.

    A plain `output.sum()` can have an exactly-cancelling gradient (train-mode batch norm
    removes the mean), which would hide parameters that are in fact used.
    """
    return make_input(shape, int(seed) + PROJECTION_OFFSET)
