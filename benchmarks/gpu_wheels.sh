#!/usr/bin/env bash
# Wheels the GPU machine's python (3.12, torch and most scientific packages already there) lacks
# for this project, downloaded here into .whl/ (git-ignored) for `benchmarks/gpu.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform any)
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py \
  traitlets jupyter-core platformdirs nbclient jupyter-client ipykernel pyzmq tornado \
  dask distributed partd locket tblib zict
ls .whl
