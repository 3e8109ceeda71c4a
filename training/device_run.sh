#!/usr/bin/env bash
# One prepared training run for a lent accelerator (docs/MODEL.md, "Training on an accelerator").
#
# Here:  make device-pack   (the corpus as one 16 MB file: the manifest's paths do not exist there)
# Then the device tool's run with command `bash training/device_run.sh`, carry
# [".stack/device"], timeout_s 600. There (its python3 holds PyTorch; $PYTHON overrides) it
# trains on from the committed weights for $MINUTES (all told) on the GPU (bfloat16), the examples cut by
# $WORKERS processes, and leaves weights.npz, card.json and train.log in $OUT, which come back.
# Here again: `python -m training.gguf_export DIR`, then judge DIR against the committed
# weights with `python -m training.heldout_loss` before adopting it.
# FRESH=1 WIDTH=.. LAYERS=.. HEADS=.. trains a new model of that shape from scratch instead
# (under 25 MB committed: about 6 M parameters at most; its serving cost must be measured too).
set -euo pipefail
out="${OUT:-.stack/device-run}"
pack=.stack/device/corpus.jsonl.xz
if [ ! -f "$pack" ]; then
    echo "device_run: $pack is missing: run 'make device-pack' here and carry .stack/device" >&2
    exit 2
fi
mkdir -p "$out"
start=(--resume model/repository/code_fim/1)
if [ "${FRESH:-0}" = 1 ]; then
    start=(--width "${WIDTH:-192}" --layers "${LAYERS:-4}" --heads "${HEADS:-6}")
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
"${PYTHON:-python3}" -m training.train --device "${DEVICE:-cuda}" --corpus "$pack" \
    "${start[@]}" --out "$out" \
    --minutes "${MINUTES:-8}" --steps "${STEPS:-1000000}" --batch "${BATCH:-128}" \
    --learning-rate "${RATE:-5e-4}" --warmup "${WARMUP:-100}" --workers "${WORKERS:-14}" \
    --checkpoint-every "${CHECKPOINT_EVERY:-2000}" --no-gguf 2>&1 | stdbuf -oL tr '\r' '\n' | tee "$out/train.log"
