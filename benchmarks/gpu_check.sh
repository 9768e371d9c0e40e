#!/usr/bin/env bash
# One command for a CUDA machine (about 5 minutes, at most 8): the CUDA tests, then the real-image timings on CUDA
# (exact field at D = 784 and 3072, a training step of fashion-gen and cifar10-gen, sampling 64 images), written to
# docs/performance_gpu.md. Fails at once, with one line, where torch sees no CUDA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA GPU (torch.cuda.is_available() is False); run this on a CUDA machine." >&2
  exit 2
fi
timeout 240 python3 -m pytest -q -m cuda
timeout 240 python3 benchmarks/bench_images.py --device cuda --repeats 5 --out docs/performance_gpu.md
echo "gpu_check: wrote docs/performance_gpu.md"
