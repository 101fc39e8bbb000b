#!/bin/bash
# The one prepared device check of issue 3, for a session that is lent a GPU (e.g. the project's H200):
#   1. the `paper` profile (200 epochs) of CE, CB-RS and CSA on CIFAR-10-LT, ratio 100, seed 0, from an
#      image-folder copy of CIFAR-10 (the offline JPEG archive), each run's wall time and accuracy;
#   2. the ResNet-32 step benchmark (csa_nb vs per-sample DataLoader + PIL) on the GPU;
#   3. the MNIST-LT benchmark on the GPU when the MNIST archives travel too.
# Needs torch, torchvision, numpy, matplotlib, pillow and fastcore (no papermill or nbdev; carry a fastcore wheel where it is
# missing, as on the device tool's H200 image): runs use the library directly. Everything is written under OUT; copy OUT/runs/* into outputs/runs/ afterwards.
#
# Usage (repository root):   bash benchmarks/gpu_session.sh IMAGES OUT [EPOCHS] [PER_RUN_TIMEOUT_S]
#   IMAGES  cifar10-jpeg.tar.gz (or a folder of train/<class>/*, test/<class>/*)
#   OUT     where results go (the device tool's $OUT)
#   EPOCHS  stage-1 epochs (default: the paper profile's 200); a small number is a dry run
#   SKIP_BENCH=1 in the environment skips the benchmarks (a dry run of the training part)
#   PRECISION=bf16 trains under bf16 autocast (a separate run, named so); the default is float32, the authors' setting
# A run that hits its timeout leaves its checkpoint and no result; running the script again resumes it.
set -uo pipefail
IMAGES=${1:?usage: gpu_session.sh IMAGES OUT [EPOCHS] [PER_RUN_TIMEOUT_S]}
OUT=${2:?usage: gpu_session.sh IMAGES OUT [EPOCHS] [PER_RUN_TIMEOUT_S]}
EPOCHS=${3:-}
TIMEOUT=${4:-900}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" CSA_OUTPUTS="$OUT" CSA_PROGRESS=lines
export CSA_DATA="${CSA_DATA:-$(mktemp -d)}"   # decoded data stay out of OUT
PY=${PYTHON:-python}
$PY - <<'EOF' | tee "$OUT/device.txt"
import torch, platform
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')
EOF
train() {  # method -> result JSON on stdout of csa-run train, log in OUT/<method>.log
  local m=$1; local t0=$(date +%s)
  timeout "$TIMEOUT" $PY -c "import sys; from csa_nb.pipeline import main; sys.exit(main(sys.argv[1:]))" \
    train --dataset cifar10-lt --method "$m" --profile paper --images "$IMAGES" ${EPOCHS:+--epochs $EPOCHS} ${PRECISION:+--precision $PRECISION} \
    > "$OUT/$m.json" 2> "$OUT/$m.log"
  local rc=$?
  echo "$m rc=$rc wall=$(( $(date +%s) - t0 ))s" | tee -a "$OUT/summary.txt"
}
for m in ce cb-rs csa; do train "$m"; done
$PY - "$OUT" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
from pathlib import Path
paper = {'ce': 70.4, 'csa': 80.6}
for m in ('ce', 'cb-rs', 'csa'):
    p = Path(sys.argv[1]) / f'{m}.json'
    try: r = json.loads(p.read_text())
    except Exception: print(f'{m}: no result'); continue
    heads = r.get('predictors', {})
    print(f"{m}: All {r['metrics']['all']:.2f} (paper {paper.get(m, '-')}) wall {r['wall_seconds']:.0f}s epochs {r['spec']['epochs']} "
          f"device {r['device']} precision {r['precision']}" + (' heads ' + ' '.join(f"{k} {v['all']:.2f}" for k, v in heads.items()) if heads else ''))
EOF
[ -n "${SKIP_BENCH:-}" ] && { cat "$OUT/summary.txt"; exit 0; }
timeout 300 $PY benchmarks/bench_cifar_resnet32.py --images "$IMAGES" --out "$OUT/benchmarks" > "$OUT/bench_cifar.log" 2>&1
echo "bench_cifar rc=$?" | tee -a "$OUT/summary.txt"
if [ -n "${CSA_DATA_MIRROR:-}" ]; then
  timeout 300 $PY benchmarks/bench_mnist_lt.py --out "$OUT/benchmarks" > "$OUT/bench_mnist.log" 2>&1
  echo "bench_mnist rc=$?" | tee -a "$OUT/summary.txt"
fi
# ---- separate step (issue 12): the ImageNet-LT / Places-LT input pipeline of 01c_images, GPU JPEG decoding ----
# csa_nb's ImageFiles on cuda (workers only read bytes; nvJPEG decodes each batch on the GPU; RandomResizedCrop,
# flip and colour jitter on the GPU) against ImageFolder + PIL transforms + DataLoader with the same 8 workers,
# on 2,048 generated JPEGs (no dataset needed). Not part of the training runs above; SKIP_INPUT_BENCH=1 skips it.
if [ -z "${SKIP_INPUT_BENCH:-}" ]; then
  timeout 300 $PY benchmarks/bench_input_pipeline.py --device cuda --images 2048 --workers 8 --batch 256 --repeats 2 \
    --folder "$CSA_DATA/bench_input" --out "$OUT/benchmarks" > "$OUT/bench_input.log" 2>&1
  echo "bench_input (GPU decode) rc=$?" | tee -a "$OUT/summary.txt"
fi
cat "$OUT/summary.txt"
