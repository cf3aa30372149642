"""Epoch time: reference.train's loop versus a starter-style loop, same model, data and seed.

The starter-style loop does what the course notebook's ``train()`` does each step: slice float64
/ int64 numpy arrays (``get_batch``), convert them to torch tensors (``get_torch_vars``), move the
class axis last with ``transpose(1, 3).contiguous().view(...)`` for the loss (``compute_loss``),
call ``loss.item()`` every step, and validate without ``no_grad`` (``run_validation_step``). Its
per-epoch image plots are left out, so the comparison is of the loops alone. Both loops use the
same number of torch threads.

    python benchmarks/bench_train_loop.py [--model PoolUpsampleNet|all] [--data PATH]
        [--colours PATH] [--epochs 3] [--rounds 3] [--limit-train 1000] [--limit-val 200]
        [--threads 2]

Each round trains a fresh model with each loop for ``--epochs`` epochs; the first epoch of each
(one-off set-up) is dropped and the medians of the remaining epochs are compared.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from reference.data import ColourData, load_dataset
from reference.models import MODELS, build_model
from reference.train import seed_everything, train_model


def starter_style_train(
    model: nn.Module, data: ColourData, epochs: int, batch_size: int, lr: float
) -> list[float]:
    """The notebook's loop, reproduced for timing; returns seconds per epoch."""
    train_grey = data.x_train.numpy().astype(np.float64)  # the starter keeps float64 arrays
    train_cat = data.y_train.numpy()[:, None]  # N x 1 x 32 x 32 int64, as get_rgb_cat returns
    val_grey = data.x_val.numpy().astype(np.float64)
    val_cat = data.y_val.numpy()[:, None]
    num_colours = data.num_colours
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def get_batch(x, y, bs):
        for i in range(0, np.shape(x)[0], bs):
            yield x[i : i + bs], y[i : i + bs]

    def get_torch_vars(xs, ys):
        return torch.from_numpy(xs).float(), torch.from_numpy(ys).long()

    def compute_loss(outputs, labels):
        b = outputs.size(0)
        out = outputs.transpose(1, 3).contiguous().view([b * 32 * 32, num_colours])
        lab = labels.transpose(1, 3).contiguous().view([b * 32 * 32])
        return criterion(out, lab)

    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        losses = []
        for xs, ys in get_batch(train_grey, train_cat, batch_size):
            images, labels = get_torch_vars(xs, ys)
            optimizer.zero_grad()
            outputs = model(images)
            loss = compute_loss(outputs, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.data.item())
        _ = np.mean(losses)
        model.eval()
        val_losses, correct, total = [], 0, 0
        for xs, ys in get_batch(val_grey, val_cat, batch_size):
            images, labels = get_torch_vars(xs, ys)
            outputs = model(images)
            val_losses.append(compute_loss(outputs, labels).data.item())
            _, predicted = torch.max(outputs.data, 1, keepdim=True)
            total += labels.size(0) * 32 * 32
            correct += (predicted == labels.data).sum()
        _ = (np.mean(val_losses), 100 * correct / total)
        times.append(time.perf_counter() - start)
    return times


def bench(
    name: str, data: ColourData, epochs: int, batch_size: int, lr: float, rounds: int
) -> float:
    """Alternate the two loops for ``rounds`` rounds so that load drifts hit both alike."""
    starter_times: list[float] = []
    ours: list[float] = []
    fmt = ""
    for _ in range(rounds):
        seed_everything(0)
        model = build_model(name, num_colours=data.num_colours)
        # the first epoch includes one-off oneDNN set-up in both loops; keep steady state only
        starter_times += starter_style_train(model, data, epochs, batch_size, lr)[1:]
        seed_everything(0)
        model = build_model(name, num_colours=data.num_colours)
        result = train_model(model, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=0)
        ours += [e.seconds for e in result.epochs][1:]
        fmt = result.memory_format
    s_med, o_med = statistics.median(starter_times), statistics.median(ours)
    print(f"{name}")
    print(f"  starter-style epochs (s): {', '.join(f'{t:.2f}' for t in starter_times)}")
    print(f"  reference     epochs (s): {', '.join(f'{t:.2f}' for t in ours)} [{fmt}]")
    print(f"  median steady-state epoch: {s_med:.2f}s vs {o_med:.2f}s -> {s_med / o_med:.2f}x")
    return s_med / o_med


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PoolUpsampleNet", help="a model name or 'all'")
    parser.add_argument("--data", default=None, help="data path; omitted: synthetic data")
    parser.add_argument("--colours", default=None)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per loop per round")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--limit-train", type=int, default=1000)
    parser.add_argument("--limit-val", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two loops")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    data = load_dataset(args.data, args.colours, seed=0, limit_train=args.limit_train,
                        limit_val=args.limit_val)  # fmt: skip
    print(
        f"data: {data.source}, {data.x_train.shape[0]} train / {data.x_val.shape[0]} val, "
        f"batch {args.batch_size}, {args.threads} threads, torch {torch.__version__}"
    )
    names = sorted(MODELS) if args.model == "all" else [args.model]
    ratios = {
        name: bench(name, data, args.epochs, args.batch_size, args.lr, args.rounds)
        for name in names
    }
    if len(ratios) > 1:
        print("speed-ups: " + ", ".join(f"{n} {r:.2f}x" for n, r in ratios.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
