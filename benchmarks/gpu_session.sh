#!/usr/bin/env bash
# Issue 26's GPU session as one command, from the repository root of the lent machine (16 cores,
# python3 with PyTorch and CUDA; nothing to install):
#
#     bash benchmarks/gpu_session.sh [TRAIN_MINUTES]       # default 5: the whole run fits the tool's 10 minutes
#     GPU_SESSION_DRY=1 bash benchmarks/gpu_session.sh     # rehearsal here: CPU, tiny sizes, ~3 min
#
# 1. benchmarks/bench_gpu_train.py: clips/s and peak memory of paper-offline, paper-causal, small
#    and the candidate `wide` (assets/configs/wide.json);
# 2. SynthLip on every core: train splits of seeds 1 and 3 (the bundled model's), test seed 2;
# 3. the wide candidate trained for TRAIN_MINUTES with the bundled model's augmentations;
# 4. its weights as float16 safetensors beside its checkpoint JSON.
# Everything it keeps lands in $OUT (default ./gpu-session), flat, at most 8 files (the device
# tool brings back 8): gpu_train.json, wide.json, wide.safetensors, session.log.
set -euo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-gpu-session}"
PY="${PYTHON:-python3}"
MINUTES="${1:-5}"
WORK="${WORK:-/tmp/spikelip-gpu}"
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/session.log") 2>&1

if [[ -n "${GPU_SESSION_DRY:-}" ]]; then  # the same steps on this CPU, sized to finish in minutes
  BENCH=(--device cpu --models small,wide --batch-size 2 --bins 4 --steps 1 --warmup 1)
  CLIPS=1; TEST_CLIPS=1; WORKERS=2; MINUTES=0.1; BATCH=4
else
  BENCH=()  # every model
  CLIPS=60; TEST_CLIPS=10; WORKERS="$(nproc)"; BATCH=32
fi

echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no GPU')"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

echo "== 1. training throughput"
"$PY" benchmarks/bench_gpu_train.py ${BENCH[@]+"${BENCH[@]}"} --name gpu_train-session
mv benchmarks/results/gpu_train-session.json "$OUT/gpu_train.json"  # committed as results/gpu_train.json once back

echo "== 2. SynthLip on $WORKERS processes"
for seed in 1 3; do
  [[ -d "$WORK/seed$seed/train" ]] || "$PY" -m app.cli synth "$WORK/seed$seed" --clips-per-word "$CLIPS" --seed "$seed" \
    --split train --workers "$WORKERS" --no-progress
done
[[ -d "$WORK/seed1/test" ]] || "$PY" -m app.cli synth "$WORK/seed1" --clips-per-word "$TEST_CLIPS" --seed 2 \
  --split test --workers "$WORKERS" --no-progress

echo "== 3. the wide candidate, $MINUTES minutes"
"$PY" -m model.train --data "$WORK/seed1" --extra-train "$WORK/seed3" --model wide \
  --out "$WORK/wide" --minutes "$MINUTES" --epochs-constant 10 --epochs-cosine 30 --warmup-epochs 1 \
  --batch-size "$BATCH" --camera-augment --camera-augment-fraction 0.5 --streaming-loss-after-end 50 \
  --workers "$(( WORKERS > 2 ? WORKERS - 2 : 1 ))" --eval-every 1000 --no-tensorboard \
  --trained-on "SynthLip train splits of seeds 1 and 3 ($CLIPS clips a word each), half of them shifted by stream.transforms.RandomShift, on the lent GPU"

echo "== 4. float16 weights"
"$PY" - "$WORK/wide" "$OUT" <<'EOF'
import json, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
run, out = Path(sys.argv[1]), Path(sys.argv[2])
card = json.loads((run / "model.json").read_text())
weights = {k: v.half() if v.is_floating_point() else v for k, v in load_file(run / card["weights"]).items()}
save_file(weights, out / "wide.safetensors")
card["weights"] = "wide.safetensors"
(out / "wide.json").write_text(json.dumps(card, indent=2) + "\n")
print(f"wide: test top-1 {card['metrics'].get('test_top1')}, {(out / 'wide.safetensors').stat().st_size / 2**20:.1f} MiB")
EOF
echo "== done $(date -u +%FT%TZ)"
