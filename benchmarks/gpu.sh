#!/usr/bin/env bash
# The GPU measurements, in one run on a lent GPU machine (within 8 minutes, everything printed):
#
#   1. reference seconds per epoch for each model on CUDA beside the CPU (synthetic horses,
#      5,000 train / 1,000 val, batch 100: the handout's epoch);
#   2. `grader selftest --checks all` on CUDA, and its accuracies beside the shipped CPU
#      calibration (they must agree within the reference's seed spread);
#   3. a generated class of 300 graded with `--checks all --device cuda` and one worker per core
#      at the rubric's budget (goal: 300 in <= 5 minutes);
#   4. 32 of them at `--budget handout` (25 epochs on 5,000 images), extrapolated to 300 (goal:
#      <= 15 minutes), after the one-off handout calibration of the reference.
#
# On the device machine (no network there; its python3 has torch): carry the wheels this project
# needs besides what the image has (bash benchmarks/gpu_wheels.sh, here, writes them to .whl/):
#   device run: carry [".whl"], command "bash benchmarks/gpu.sh", timeout 540
# GPU_DRY=1 runs the same steps on the CPU with tiny counts (to check the script itself).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
START=$SECONDS
DEVICE=cuda; N=300; NH=32; EPOCHS_CUDA=3; EPOCHS_CPU=1; LIMIT=5000; VAL=1000; STEP=170
if [ "${GPU_DRY:-0}" = 1 ]; then
  DEVICE=cpu; N=4; NH=2; EPOCHS_CUDA=1; EPOCHS_CPU=1; LIMIT=300; VAL=100; STEP=120
fi
WORKERS=$(nproc)
PY=${PY:-python3}   # the device's python3 holds torch; GPU_DRY=1 PY=.venv/bin/python here
say() { printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - START))"; }

say "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
echo "cores: $WORKERS"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
  export PYTHONPATH=$PWD
fi
$PY -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'
GRADER="$PY -m grader"

say "1. reference seconds per epoch, $DEVICE beside cpu"
for model in PoolUpsampleNet ConvTransposeNet UNet CNN UNet2020; do
  timeout 90 $PY -m reference train --model "$model" --epochs "$EPOCHS_CUDA" --device "$DEVICE" \
    --limit-train "$LIMIT" --limit-val "$VAL" --no-progress --out "$OUT/ref-$model-gpu" >/dev/null 2>&1
  timeout 90 $PY -m reference train --model "$model" --epochs "$EPOCHS_CPU" --device cpu \
    --limit-train "$LIMIT" --limit-val "$VAL" --no-progress --out "$OUT/ref-$model-cpu" >/dev/null 2>&1
done
$PY - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'model':18} {'gpu s/epoch':>12} {'cpu s/epoch':>12} {'speed-up':>9} {'gpu val acc':>12}")
for model in ["PoolUpsampleNet", "ConvTransposeNet", "UNet", "CNN", "UNet2020"]:
    rows = {}
    for side in ("gpu", "cpu"):
        try:
            m = json.loads((out / f"ref-{model}-{side}" / "metrics.json").read_text())
            seconds = m["epoch_seconds"][1:] or m["epoch_seconds"]   # epoch 1 warms the GPU
            rows[side] = (statistics.median(seconds), m["final"]["val_acc"])
        except (OSError, KeyError, ValueError) as exc:
            rows[side] = (float("nan"), float("nan"))
    g, c = rows["gpu"], rows["cpu"]
    print(f"{model:18} {g[0]:12.2f} {c[0]:12.2f} {c[0] / g[0]:8.1f}x {g[1]:11.1f}%")
PY

say "2. selftest --checks all on $DEVICE (and CPU-calibration agreement)"
timeout 240 $GRADER selftest --rubric csc413-2023-a2 --checks all --device "$DEVICE" \
  --cache-dir "$OUT/cache" --out "$OUT/selftest" 2>&1 | tail -4
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for path in sorted((out / "selftest").glob("*/result.json")):
    r = json.loads(path.read_text())
    for q in r["questions"]:
        for c in q["checks"]:
            d = c.get("details") or {}
            if c["kind"] == "accuracy" and "val_acc" in d:
                ref = d["reference_val_acc"]
                spread = max(ref) - min(ref)
                agree = abs(d["val_acc"] - d["reference_mean"]) <= max(spread, 1.0)
                print(f"{q['id']}: {r['environment']['device']} {d['val_acc']:.1f} % against the "
                      f"CPU calibration {d['reference_mean']:.1f} % (spread {spread:.1f}): "
                      f"{'agrees' if agree else 'DIFFERS'}")
PY

say "3. a generated class of $N, --checks all, --device $DEVICE, $WORKERS workers"
$PY scripts/make_class.py --n "$N" --seed 0 --out "$OUT/class" >/dev/null
T=$SECONDS
timeout "$STEP" $GRADER grade "$OUT/class" --rubric csc413-2023-a2 --checks all --device "$DEVICE" \
  --workers "$WORKERS" --cache-dir "$OUT/cache" --out "$OUT/graded" --quiet 2>&1 | tail -3
echo "class of $N at the rubric's budget: $((SECONDS - T)) s (goal for 300: <= 300 s)"

say "4. $NH at --budget handout, extrapolated to 300"
mkdir -p "$OUT/handout-class"
ls "$OUT/class"/*.ipynb | head -n "$NH" | xargs -I{} cp {} "$OUT/handout-class/"
T=$SECONDS
timeout "$STEP" $GRADER grade "$OUT/handout-class" --rubric csc413-2023-a2 --checks all \
  --budget handout --device "$DEVICE" --workers "$WORKERS" --cache-dir "$OUT/cache" \
  --out "$OUT/graded-handout" --quiet 2>&1 | tail -3
ELAPSED=$((SECONDS - T))
$PY - "$OUT" "$ELAPSED" "$NH" <<'PY'
import json, sys
from pathlib import Path
out, elapsed, n = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
grading = [json.loads(p.read_text())["timings"]["total_s"]
           for p in (out / "graded-handout").glob("*/result.json")]
print(f"{len(grading)} notebooks at the handout's budget in {elapsed:.0f} s (the reference's "
      f"handout calibration included); per notebook {sum(grading) / max(1, len(grading)):.1f} s "
      f"of worker time")
per = sum(grading) / max(1, len(grading))
import os
workers = os.cpu_count() or 1
print(f"extrapolated to 300 with {workers} workers: {300 * per / workers / 60:.1f} min of grading "
      f"(goal <= 15 min), plus the calibration once")
PY
say "done"
