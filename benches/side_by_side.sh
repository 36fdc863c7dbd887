#!/usr/bin/env bash
# PyTorch and maxl-rs in one run on one machine, same threads: gemm, then B1 twice.
# Needs .venv with torch (benches/README.md) and a release build of maxl-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
echo "== torch gemm"; .venv/bin/python benches/torch_gemm.py --threads "$threads" --json
echo "== maxl gemm"; ./target/release/maxl-cli bench gemm --threads "$threads" --json
for round in 1 2; do
    echo "== torch b1 ($round)"; .venv/bin/python benches/torch_b1.py --threads "$threads" --json
    echo "== maxl b1 ($round)"; ./target/release/maxl-cli bench b1 --threads "$threads" --json
done
