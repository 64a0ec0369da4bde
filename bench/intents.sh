#!/usr/bin/env bash
# Reproduce the numbers in docs/benchmarks-intents.md (not a test: takes ~5-10 minutes).
# Usage: bench/intents.sh [DATASETS_DIR]   (default: ../shared/datasets next to the repo)
# Every run is pinned to one core with one math thread, as the latency targets are stated.
set -euo pipefail
cd "$(dirname "$0")/.."
D="${1:-../shared/datasets}"
OUT=bench/results/intents
mkdir -p "$OUT"
PY="${PYTHON:-.venv/bin/python}"
run() { taskset -c 0 env OMP_NUM_THREADS=1 "$PY" -m research.intents.evaluation "$@"; }

run --train "$D/banking77/train.csv" --test "$D/banking77/test.csv" --json \
    --cache-dir "$OUT/cache" --plot "$OUT/banking77_confusion.png" > "$OUT/banking77_full.txt"
for seed in 0 1 2; do
  run --train "$D/banking77/train.csv" --test "$D/banking77/test.csv" --shots 10 \
      --seed "$seed" --json > "$OUT/banking77_10shot_seed$seed.txt"
done
run --train "$D/clinc150/data_full.json" --test "$D/clinc150/data_full.json" --json \
    --cache-dir "$OUT/cache" > "$OUT/clinc150.txt"
# Start-up from the cache: train_seconds is then the load time.
run --train "$D/banking77/train.csv" --test "$D/banking77/test.csv" --json \
    --cache-dir "$OUT/cache" > "$OUT/banking77_full_cached.txt"
run --train "$D/banking77/train.csv" --test "$D/banking77/test.csv" --json \
    --backend tfidf > "$OUT/banking77_tfidf.txt"
tail -n 1 "$OUT"/*.txt
