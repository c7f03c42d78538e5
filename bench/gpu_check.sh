#!/usr/bin/env bash
# GPU check (issue 19): ResNet-50 built by archspec vs keras.applications.ResNet50, trained side
# by side on synthetic 224x224 data (float32, mixed precision, mixed precision + XLA), images/s
# and ratios, then a check that `archspec train --mixed-precision --jit-compile` takes effect.
# The work is bench/gpu_check.py; this script makes its environment and bounds its time.
#
#   bench/gpu_check.sh                         # on a machine with an NVIDIA GPU
#   GPU_CHECK_ALLOW_CPU=1 GPU_CHECK_SIZE=32 GPU_CHECK_BATCH=4 GPU_CHECK_STEPS=1 \
#   GPU_CHECK_ROUNDS=1 GPU_CHECK_WARMUP=1 bench/gpu_check.sh   # dry run of the script on a CPU
#
# Environment: GPU_CHECK_VENV (default .venv-gpu; an existing environment that already has the
# locked packages is used as it is), GPU_CHECK_TIMEOUT (seconds for the check itself, default
# 420, so that installing plus checking stays under 8 minutes on a machine with a warm pip
# cache), and bench/gpu_check.py's GPU_CHECK_* settings.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GPU_CHECK_VENV:-.venv-gpu}"
PY="$VENV/bin/python"
start=$(date +%s)

if ! "$PY" -c "import tensorflow, keras, yaml, click, jsonschema" 2>/dev/null; then
  echo "gpu_check.sh: making $VENV from requirements/lock.txt (hash-checked)"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$PY" -m pip install --quiet --require-hashes -r requirements/lock.txt
fi
# TensorFlow's Linux wheel finds CUDA in the nvidia-* wheels of tensorflow[and-cuda] or in the
# system's libraries; if the machine has a GPU that TensorFlow does not see, try the wheels
# (unpinned by the lock: said here, and by pip, when it happens).
if command -v nvidia-smi >/dev/null && ! "$PY" -c \
  "import sys, tensorflow as tf; sys.exit(0 if tf.config.list_physical_devices('GPU') else 1)" 2>/dev/null; then
  version=$("$PY" -c "import tensorflow as tf; print(tf.__version__)")
  echo "gpu_check.sh: TensorFlow sees no GPU; installing tensorflow[and-cuda]==$version (NOT from the lock)"
  "$PY" -m pip install --quiet "tensorflow[and-cuda]==$version" || echo "gpu_check.sh: could not install the CUDA wheels"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "gpu_check.sh: environment ready after $(( $(date +%s) - start )) s"

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
status=0
timeout "${GPU_CHECK_TIMEOUT:-420}" "$PY" bench/gpu_check.py || status=$?
echo "gpu_check.sh: done in $(( $(date +%s) - start )) s (exit status $status)"
exit "$status"
