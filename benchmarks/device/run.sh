#!/usr/bin/env bash
# The SmolLM2 GPU rows, run on a leased device machine in three calls, each carrying one piece of the
# payload that `benchmarks/device/payload.py pack` wrote here (.gpu/a, .gpu/b, .gpu/c, in that order,
# the machine kept warm between them):
#   a: the first piece of the GGUF; prints what the machine is.
#   b: the rest; installs tokwork and the gguf wheel, rebuilds the teacher (checked by digest) and runs
#      benchmarks/bytelevel.py on the GPU (scoring, kernel, sampling) -> $OUT/bytelevel-gpu.json.
#   c: the students' rows; rebuilds the students (checked) and runs benchmarks/distill.py on the GPU,
#      every loss round robin at 10x the CPU table's steps until DEADLINE_MINUTES -> $OUT/distill.json.
#   more: (machine still warm) the GPU runs of RUNS on TARGETS resumed to AT_STEPS; the rows go on from
#      those of benchmarks/results/distill.json (merge that file's GPU rows in first) -> $OUT/distill.json.
#      The lease of 2026-12-04 ran: RUNS="alm+lm/all alm/all" TARGETS=gpt2 AT_STEPS=800 (as a python -c
#      call of run(); alm+lm stopped at 783 on its time guard).
# Usage there: bash benchmarks/device/run.sh a|b|c|more
set -euo pipefail
phase=$1
STAGE=/tmp/stage
export TOKWORK_SITE=/tmp/site TOKWORK_CACHE=/tmp/tokwork-cache HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
export PYTHONPATH=$TOKWORK_SITE${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-/tmp/out}
mkdir -p "$STAGE" "$OUT" "$TOKWORK_SITE"
if [ -d ".gpu/$phase" ]; then cp -r ".gpu/$phase/." "$STAGE/"; fi
case $phase in
a)
  nvidia-smi -L || echo "no nvidia-smi"; python3 --version
  python3 -c "import torch, transformers, tokenizers, triton; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
  ;;
b)
  [ -f "$STAGE/smollm2.gguf.0" ] || { echo "the first piece (.gpu/a) is not on this machine: run phase a first"; exit 3; }
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$TOKWORK_SITE" "$STAGE"/wheels/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$TOKWORK_SITE" .
  python3 benchmarks/device/payload.py unpack teacher "$STAGE"
  python3 benchmarks/bytelevel.py --parts "${BYTELEVEL_PARTS:-scoring,kernel,sampling}" ${BYTELEVEL_ARGS:-} \
    --output "$OUT/bytelevel-gpu.json" 2>&1 | tee "$OUT/bytelevel-gpu.log"
  ;;
c)
  [ -d "$TOKWORK_CACHE/models" ] || { echo "the teacher is not on this machine: run phases a and b first"; exit 3; }
  python3 benchmarks/device/payload.py unpack students "$STAGE"
  cp benchmarks/results/distill.json "$OUT/distill.json"
  python3 benchmarks/distill.py --targets ${TARGETS:-gpt2 bpe32k-en} --merge --label gpu --interleave \
    --output "$OUT/distill.json" --threads "${THREADS:-8}" \
    --runs alm/all lm/all alm+lm/all --at-steps ${AT_STEPS:-100 200 400 800 1200 1600} \
    --deadline-minutes "${DEADLINE_MINUTES:-6}" 2>&1 | tee "$OUT/distill-gpu.log"
  ;;
more)
  [ -d build/bench/distill ] || { echo "no GPU runs on this machine: run phases a, b and c first"; exit 3; }
  cp benchmarks/results/distill.json "$OUT/distill.json"
  python3 benchmarks/distill.py --targets ${TARGETS:-gpt2} --merge --label gpu --interleave --resume \
    --output "$OUT/distill.json" --threads "${THREADS:-8}" --runs ${RUNS:-alm/all lm/all alm+lm/all} \
    --at-steps ${AT_STEPS:-800} --deadline-minutes "${DEADLINE_MINUTES:-3}" 2>&1 | tee "$OUT/distill-gpu-more.log"
  ;;
*) echo "phase must be a, b, c or more"; exit 2 ;;
esac
