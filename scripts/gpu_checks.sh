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
# accuracy against float32 is measured unless SKIP_ACCURACY=1 (it costs two more passes)
extra=()
[ "${SKIP_ACCURACY:-0}" = 1 ] && extra+=(--skip-accuracy)
timeout "${BF16_TIMEOUT:-200}" python3 scripts/benchmark.py --gpu --precision bfloat16 --batches "${BATCHES:-12}" \
  "${extra[@]}" --json "$out/gpu_bfloat16.json" 2>&1 | tail -12
timeout "${TF32_TIMEOUT:-200}" python3 scripts/benchmark.py --gpu --precision tf32 --batches "${BATCHES:-12}" \
  "${extra[@]}" --json "$out/gpu_tf32.json" 2>&1 | tail -12
