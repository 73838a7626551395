#!/usr/bin/env bash
# The GPU checks of issue #11, as one script for the device machine (a few minutes on an H200):
# the CUDA tests, a CUDA transfer smoke run, a CUDA search through the evaluator's populations,
# and the population benchmark (its CUDA table, then the CPU one). Output goes to $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpu-checks}"
mkdir -p "$out"
python -m pip install -q -e ".[test]" >"$out/install.log" 2>&1 || { tail -5 "$out/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/device.txt"
python -m pytest -q tests/dsl/test_dsl_optimizer.py tests/evaluation/training/test_population.py -k "cuda" 2>&1 | tail -5 | tee "$out/cuda-tests.txt"
optsearch transfer powersign adam --task digits --steps 200 --seeds 2 --device cuda --out "$out/transfer" --quiet 2>&1 | tail -8 | tee "$out/transfer.txt"
optsearch search --searcher random --budget 64 --batch-size 64 --device cuda --backend serial --store "$out/s.sqlite" --quiet 2>&1 | tail -4 | tee "$out/search.txt"
timeout 420 python -u benchmarks/population_speed.py --repeats 1 --rules 8 --sizes 1 8 2>&1 | tee "$out/bench.txt"
