#!/usr/bin/env bash
# The GPU check (issue 16): one script, at most 8 minutes, on a machine with an NVIDIA GPU and
# PyTorch but no Node.js and no internet. It runs:
#   1. nvidia-smi and torch's view of the GPU;
#   2. bench:train on torch-cuda for the 124 M preset (bf16 autocast, then fp32), and gpt-10m;
#   3. a 3-node testnet on the one GPU for 3 rounds (gpt-10m, private network, proofs on);
#   4. one audit of a node's last round, every segment replayed on torch-cuda: the torch-cuda
#      against torch-cuda tolerance of SPEC.md 17.6.
# Everything it prints goes to $OUT/gpu-check.log, and a JSON summary to $OUT/gpu-check.json.
#
# Node.js and the JavaScript come from device-bundle/bundle.tar.xz (scripts/device/pack.sh makes
# it here, under the 64 MiB the device tool carries): run the check as
#   run(command: "bash scripts/device/gpu-check.sh", carry: ["device-bundle"])
# `--cpu` runs the same steps on torch-cpu with small presets, to prove the script on a machine
# without a GPU (2 cores: a few minutes).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/device-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
step() { say; say "== $* ($(date -u +%H:%M:%S))"; }
started=$(date +%s)

BACKEND=torch-cuda BENCH_PRESETS=gpt-124m FP32_PRESETS=gpt-10m,gpt-124m TESTNET_PRESET=gpt-10m INNER_STEPS=50 BENCH_STEPS=20
if [ "${1:-}" = --cpu ]; then
  BACKEND=torch-cpu BENCH_PRESETS=gpt-tiny FP32_PRESETS=gpt-tiny TESTNET_PRESET=gpt-tiny INNER_STEPS=8 BENCH_STEPS=10
fi

# Node.js and the build: this machine's, or unpacked from the bundle.
if ! command -v node >/dev/null || [ ! -d dist ] || [ ! -d node_modules ]; then
  [ -f device-bundle/bundle.tar.xz ] || { say "no node and no device-bundle/bundle.tar.xz: run scripts/device/pack.sh first"; exit 2; }
  step "unpacking the bundle"
  tar -xJf device-bundle/bundle.tar.xz -C "$ROOT"
  export PATH=$ROOT/device-bundle/bin:$PATH
fi
say "node $(node --version) at $(command -v node)"
dtrain() { node "$ROOT/dist/src/cli/main.js" "$@"; }

step "GPU"
if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1 | tee -a "$LOG"; else say "no nvidia-smi"; fi
for py in python3 /usr/bin/python3; do
  "$py" -c 'import sys, torch; print(sys.executable, "torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -n 1 | tee -a "$LOG"
done

step "bench:train on $BACKEND: $BENCH_PRESETS, bf16 autocast"
if [ "$BACKEND" = torch-cuda ]; then
  timeout 170 node dist/scripts/bench/train.js --presets "$BENCH_PRESETS" --backends "$BACKEND" --precision bf16 \
    --steps "$BENCH_STEPS" --repeats 2 --no-proofs --json 2>&1 | tee "$OUT/bench-bf16.txt" | tee -a "$LOG"
fi
step "bench:train on $BACKEND: $FP32_PRESETS, fp32"
timeout 170 node dist/scripts/bench/train.js --presets "$FP32_PRESETS" --backends "$BACKEND" \
  --steps "$BENCH_STEPS" --repeats 2 --no-proofs --json 2>&1 | tee "$OUT/bench-fp32.txt" | tee -a "$LOG"

STATE=$(mktemp -d /tmp/dtrain-gpu-testnet.XXXXXX)
step "testnet: 3 nodes on $BACKEND, $TESTNET_PRESET, 3 rounds, H = $INNER_STEPS, private network"
timeout 200 node dist/src/cli/main.js testnet --backend "$BACKEND" --preset "$TESTNET_PRESET" --rounds 3 \
  --inner-steps "$INNER_STEPS" --private --proof-retention 2 --state "$STATE" --json \
  >"$OUT/testnet.json" 2> >(tee -a "$LOG" >&2)
testnet_rc=$?
tail -n 1 "$OUT/testnet.json" | tee -a "$LOG"
for i in 0 1 2; do grep -h '"training backend"' "$STATE/node-$i/node.log" | tail -n 1 >>"$LOG"; done

step "audit of node 1's round 2, every segment replayed on $BACKEND"
timeout 90 node dist/src/cli/main.js audit --proof "$STATE/node-1" --round 2 --backend "$BACKEND" \
  --segments 1000 --json >"$OUT/audit.json" 2>>"$LOG"
audit_rc=$?
say "audit exit code $audit_rc"

node -e '
const fs = require("fs")
const out = process.argv[1]
const last = (f) => { try { return JSON.parse(fs.readFileSync(f, "utf8").trim().split("\n").at(-1)) } catch { return null } }
const audit = last(`${out}/audit.json`)
const testnet = last(`${out}/testnet.json`)
const summary = {
  backend: process.argv[2],
  benchBf16: last(`${out}/bench-bf16.txt`),
  benchFp32: last(`${out}/bench-fp32.txt`),
  testnet: testnet && { agreed: testnet.agreed, roundsCompleted: testnet.roundsCompleted, evalLoss: testnet.evalLoss, secondsPerRound: testnet.secondsPerRound, backend: testnet.backend },
  testnetExit: Number(process.argv[3]),
  audit: audit && { verdict: audit.verdict, segments: audit.segments?.length, worstRelativeDistance: Math.max(0, ...(audit.segments ?? []).map((s) => s.relativeDistance)), tolerance: audit.segments?.[0]?.tolerance, reasons: audit.reasons },
  auditExit: Number(process.argv[4]),
  seconds: Number(process.argv[5]),
}
fs.writeFileSync(`${out}/gpu-check.json`, JSON.stringify(summary, null, 2))
console.log(JSON.stringify(summary))
' "$OUT" "$BACKEND" "$testnet_rc" "$audit_rc" "$(($(date +%s) - started))" | tee -a "$LOG"
rm -rf "$STATE"
say "gpu-check done in $(($(date +%s) - started)) s"
[ "$testnet_rc" = 0 ] && [ "$audit_rc" = 0 ]
