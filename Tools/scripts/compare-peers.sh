#!/usr/bin/env bash
# Times one training step of gan ("mlp" in the peers) and dcgan at batch 64
# and 256: Atelier on the CPU path and on PoCL, next to the peers of
# ../shared/peers (PyTorch, Keras/TF; tinygrad on PoCL with TINYGRAD=1),
# one after another in one sitting, 2 threads each. Prints a Markdown table
# of median ms per step.
#   Tools/scripts/compare-peers.sh            # needs the peers' venv (bash ../shared/peers/setup_venv.sh)
#   MODELS=dcgan BATCHES=64 TINYGRAD=1 Tools/scripts/compare-peers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
peers=${PEERS:-$root/../shared/peers}
venv=${VENV:-$HOME/.venvs/atelier-peers}
models=${MODELS:-"gan dcgan"}
batches=${BATCHES:-"64 256"}
steps=${STEPS:-20}
bench=.build/release/atelier-bench
[ -x "$bench" ] || swift build -c release --product atelier-bench >/dev/null

ours() {  # device model batch -> median ms
  "$bench" --device "$1" --model "$2" --batches "$3" --repeats "$steps" --warmup 3 --json 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)[0]["medianMilliseconds"], 1))'
}
peer() {  # steps script model batch [extra...] -> median ms
  local n=$1 script=$2 model=$3 batch=$4; shift 4
  ( . "$venv/bin/activate" && cd "$peers" &&
    python "$script" --model "$model" --batch "$batch" --steps "$n" --warmup 3 --threads 2 "$@" 2>/dev/null ) |
    tail -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["median_ms"])' 2>/dev/null || echo "n/a"
}

echo "date: $(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo
header="| model | batch | Atelier CPU path | Atelier PoCL | PyTorch CPU | Keras/TF | Keras/TF + XLA |"
rule="| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
if [ "${TINYGRAD:-0}" = 1 ]; then header="$header tinygrad PoCL |"; rule="$rule ---: |"; fi
echo "$header"; echo "$rule"
for m in $models; do
  pm=$m; [ "$m" = gan ] && pm=mlp
  for b in $batches; do
    row="| $m | $b | $(ours cpu "$m" "$b") | $(ours opencl "$m" "$b") | $(peer "$steps" torch_gan.py "$pm" "$b") | $(peer "$steps" keras_gan.py "$pm" "$b") | $(peer "$steps" keras_gan.py "$pm" "$b" --xla) |"
    if [ "${TINYGRAD:-0}" = 1 ]; then
      row="$row $(peer 5 tinygrad_gan.py "$pm" "$b" --device CL) |"
    fi
    echo "$row"
  done
done
