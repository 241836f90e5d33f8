#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: the reduced-precision engine tests, then the streaming family-pass
# benchmark in bfloat16, TF32 and float32 GEMM precision. Raw results go to the folder given (default: .).
# Uses whatever python3 holds torch with CUDA and transformers; the suite's own plugin is not loaded.
set -uo pipefail
out="${1:-.}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$out/gpu.txt"
python3 -m pytest --noconftest -c /dev/null -p no:cacheprovider -q -rs \
  tests/unit/engine/test_correlation.py tests/unit/engine/test_family.py tests/unit/test_stream.py 2>&1 \
  | tail -5 | tee "$out/tests.txt"
for precision in bfloat16 tf32; do
  timeout 200 python3 scripts/benchmark.py --gpu --precision "$precision" --json "$out/gpu_$precision.json" 2>&1 \
    | tail -12
done
timeout 150 python3 scripts/benchmark.py --gpu --precision float32 --batches 4 --json "$out/gpu_float32.json" 2>&1 \
  | tail -12
