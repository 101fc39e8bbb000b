#!/bin/bash
# Issue 10's device check: Table 2 rows at the paper's 200 epochs (`paper` profile) on one GPU.
# CIFAR-10-LT, ratio 100, seed 0, float32 (the authors' setting), ResNet-32, from an image-folder copy of CIFAR-10
# (the offline JPEG re-encoding). One ResNet-32 step leaves most of a large GPU idle, so SLOTS runs share it at once;
# a queue starts the next method when one ends. Each run checkpoints every epoch: a run stopped at the deadline
# leaves its checkpoint and no result, and resumes (on any device) with the same `csa-run train` command.
#
# Usage (repository root):  bash benchmarks/gpu_table2.sh IMAGES OUT DEADLINE_S [JOB ...]
#   IMAGES      cifar10-jpeg.tar.gz, or a folder of train/<class>/*, test/<class>/*
#   OUT         where results go (the device tool's $OUT): device.txt, summary.txt, logs.tgz, runs.tgz.NN
#               (the store's runs/ folder as a tar.gz cut into 15 MiB pieces: `cat runs.tgz.* | tar xz`)
#   DEADLINE_S  seconds from the start after which every run still going is stopped (SIGTERM) and results are packed
#   JOB         a method, or methods joined by '+' to run one after the other (ce+lws: LWS needs CE's stage 1);
#               default: the rows still missing at 200 epochs, most wanted first (CSA + mixup resumes a committed checkpoint;
#               ce+lws trains a CE of the committed CE-200 run's name: import keeps the committed result, LWS uses the model)
# Every unfinished run committed under outputs/runs (a stage1.ckpt) is put in the store first, so its job resumes it.
# Back on the development machine: python tools/import_device_runs.py <the folder the device tool returned>
# Environment: STORE (where runs are kept; default OUT/store, dropped after packing. An ignored folder of the working tree,
#   e.g. build/devstore, outlives the call on a warm device machine: a second call made at once resumes from it with no
#   upload; the device tool keeps ignored outputs between calls), SLOTS (runs at once, default 7), EPOCHS (stage-1 epochs; default the profile's 200; small = dry run),
#   PYTHON (default python3), CSA_DATA (decoded data; default a fresh temporary folder, outside OUT).
# Needs torch, torchvision, numpy, pandas, matplotlib, pillow and fastcore (carry its wheel where it is missing).
set -uo pipefail
IMAGES=${1:?usage: gpu_table2.sh IMAGES OUT DEADLINE_S [JOB ...]}
OUT=${2:?usage: gpu_table2.sh IMAGES OUT DEADLINE_S [JOB ...]}
DEADLINE=${3:?usage: gpu_table2.sh IMAGES OUT DEADLINE_S [JOB ...]}
shift 3
JOBS=("$@"); [ ${#JOBS[@]} -eq 0 ] && JOBS=(csa-mixup m2m cb-rs focal cmo ce+lws)
SLOTS=${SLOTS:-7}; EPOCHS=${EPOCHS:-}; PY=${PYTHON:-python3}
T0=$(date +%s); END=$((T0 + DEADLINE))
STORE=${STORE:-$OUT/store}
mkdir -p "$OUT/logs" "$STORE/runs"
# committed unfinished runs, unless the store has the run already (a kept STORE from an earlier call is further on)
for c in outputs/runs/*/stage1.ckpt; do d=$(dirname "$c"); [ -e "$c" ] && [ ! -e "$STORE/runs/$(basename "$d")" ] && cp -r "$d" "$STORE/runs/"; done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" CSA_OUTPUTS="$STORE" CSA_PROGRESS=lines PYTHONUNBUFFERED=1
export CSA_DATA="${CSA_DATA:-$(mktemp -d)}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/summary.txt"; }

$PY - <<'EOF' 2>&1 | tee "$OUT/device.txt"
import os, platform, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU', 'cpus', os.cpu_count())
EOF
# Decode the images once, before the runs start (each run then reads the cached tensors), and fail fast on import errors.
$PY -c "import sys; from csa_nb.cifar import load_image_folder; from csa_nb import pipeline; x = load_image_folder(sys.argv[1], 10); print('images', tuple(x[0].shape), tuple(x[2].shape))" \
  "$IMAGES" 2>&1 | tee -a "$OUT/device.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { say "setup failed: see device.txt"; exit 1; }
say "setup done; jobs: ${JOBS[*]}; slots $SLOTS; deadline ${DEADLINE}s"
LOGGER=; EXTRA=0   # the nvidia-smi logger is one more background job
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 10 > "$OUT/logs/nvidia-smi.csv" 2>&1 & LOGGER=$!; EXTRA=1; fi

job() {  # one queue item: its methods one after the other, each stopped at the deadline
  local m
  for m in ${1//+/ }; do
    local left=$((END - $(date +%s))); [ "$left" -gt 5 ] || { say "$m not started (deadline)"; return; }
    local t=$(date +%s)
    timeout --signal=TERM "$left" $PY -c "import sys; from csa_nb.pipeline import main; sys.exit(main(sys.argv[1:]))" \
      train --dataset cifar10-lt --method "$m" --profile paper --images "$IMAGES" ${EPOCHS:+--epochs $EPOCHS} \
      > "$OUT/logs/$m.json" 2> "$OUT/logs/$m.log"
    local rc=$?
    say "$m rc=$rc wall=$(( $(date +%s) - t ))s"
    [ $rc -eq 0 ] || return
  done
}
for j in "${JOBS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge $((SLOTS + EXTRA)) ]; do wait -n; done
  [ $(( END - $(date +%s) )) -gt 5 ] || { say "$j not started (deadline)"; continue; }
  say "start $j"; job "$j" &
done
while [ "$(jobs -rp | wc -l)" -gt $EXTRA ]; do wait -n; done
[ -n "$LOGGER" ] && kill "$LOGGER" 2>/dev/null

$PY - "$STORE/runs" <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import json, sys, torch
from pathlib import Path
for d in sorted(Path(sys.argv[1]).glob('*')):
    r, c = d / 'result.json', d / 'stage1.ckpt'
    if r.exists():
        x = json.loads(r.read_text()); m = x['metrics']
        print(f"{d.name}: finished, All {m['all']:.2f} (Many {m['many']:.1f}, Med {m['medium']:.1f}, Few {m['few']:.1f}); "
              f"{x['wall_seconds']:.0f} s, {x.get('seconds_per_epoch') or 0:.2f} s/epoch, {x['device']}, {x['precision']}")
    elif c.exists():
        k = torch.load(c, map_location='cpu', weights_only=False)
        print(f"{d.name}: UNFINISHED, checkpoint after epoch {k['epoch']}; test All {k['history'][-1]['test']['all']:.2f} then")
    else: print(f"{d.name}: nothing saved")
EOF
# Pack: the device tool brings back at most 8 files of 16 MiB, two folders deep.
tar czf - -C "$STORE" runs | split -b 15m -d - "$OUT/runs.tgz."
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$OUT/logs" "$OUT/store"
say "packed: $(ls "$OUT" | tr '\n' ' ')"
