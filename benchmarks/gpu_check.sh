#!/usr/bin/env bash
# One-shot GPU check of the device decode path (encoder.decode: gpu, ood_core/features/gpu_decode.py).
#
# Run from the repository root on a machine with one CUDA GPU, in one call of about 4-8 minutes:
#     bash benchmarks/gpu_check.sh
# It prints (and writes to ${OUT:-/tmp}/gpu_check.log):
#   1. tests/test_gpu_decode.py with CUDA: the gpu path against the PIL path on the mini benchmark's
#      images (nvJPEG pixel differences, printed) and the embedding cosine of a tiny model;
#   2. benchmarks/bench_embed.py on 20,000 generated JPEGs of ImageNet-like sizes, ViT-B/16 fp16
#      (random weights), both decode paths in one run: images/s, the ratio gpu/pil, and the issue's
#      target (>= 5,000 images/s end to end and >= 2x the PIL path) as MET / NOT MET.
# Needs python3 with CUDA torch + torchvision and Pillow. open_clip_torch, ftfy and wcwidth are installed
# from .whl/ (wheels downloaded beforehand, see below) into /tmp/site when python3 lacks open_clip:
#     python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 -d .whl open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-/tmp}/gpu_check.log
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import open_clip" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "open_clip is missing and .whl/ holds no installable wheels (see the header)"; exit 1; }
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
# DataLoader workers hand batches over in /dev/shm: the PIL path's 1,024 x 3 x 224 x 224 float batches
# (616 MB each, two in flight per worker) need tens of GB there.
shm_kb=$(df --output=size -k /dev/shm 2>/dev/null | tail -1)
if [ "${shm_kb:-0}" -lt 33554432 ]; then mount -o remount,size=48G /dev/shm 2>/dev/null || true; fi

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  df -h /dev/shm | tail -1
  "$PY" -c "import torch, torchvision, open_clip, PIL; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'open_clip', open_clip.__version__, 'Pillow', PIL.__version__, torch.cuda.get_device_name())"
  echo "== 1. gpu path vs PIL path on CUDA (mini benchmark, mixed files, tiny model)"
  timeout 240 "$PY" -m pytest -q -s -p no:cacheprovider -W ignore::DeprecationWarning tests/test_gpu_decode.py
  echo "== 2. throughput: 20,000 JPEGs, ViT-B/16 fp16, both decode paths in one run"
  timeout 420 "$PY" -W ignore::DeprecationWarning benchmarks/bench_embed.py --device cuda --n-images 20000 \
    --batch-size 1024 --num-workers 8,16
  date -u
} 2>&1 | tee "$LOG"
