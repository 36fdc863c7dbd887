#!/usr/bin/env bash
# PyTorch and maxl-rs in one run on one machine, same device and threads: gemm, B1 twice, B2 once
# (one process per step, so that max_rss_mib, the peak resident memory, is each step's own).
#
#   benches/side_by_side.sh [cpu|cuda] [THREADS]     (either order; defaults: cpu, 2)
#   benches/side_by_side.sh ops [cpu] [THREADS]      (per-op gradient-of-gradient cost)
#
# ops runs benches/torch_ops.py, then `maxl-cli bench ops` (CPU only), each op at its B1/B2
# shapes for orders 1 to OPS_ORDER (default 2), configurations OPS_CONFIG (b1, b2 or all, the
# default), and prints both as Markdown tables with ratios (`maxl-cli bench ops-table`); the
# JSON lines and a bar chart of the per-op ratios (ops_ratio.png) go to OPS_OUT (default
# target/bench-ops). OPS_RUNS sets the timed chains per figure (default 5).
#
# cuda runs `maxl-cli bench ... --device cuda` and the torch scripts with `--device cuda`
# (TF32 off, cudnn.benchmark off; TORCH_FLAGS="--tf32 --cudnn-benchmark" passes flags on to
# torch_b1.py/torch_b2.py). PYTHON (default .venv/bin/python) is the Python with torch, a CUDA
# build for cuda; MAXL_CLI (default target/release/maxl-cli) the engine's side. A failing
# command is reported and the rest still run; the exit status is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
device=cpu
threads=2
mode=steps
for arg in "$@"; do
    case "$arg" in
        cpu | cuda) device="$arg" ;;
        ops) mode=ops ;;
        '' | *[!0-9]*) echo "usage: $0 [cpu|cuda] [THREADS] | $0 ops [cpu] [THREADS]" >&2; exit 2 ;;
        *) threads="$arg" ;;
    esac
done
py="${PYTHON:-.venv/bin/python}"
cli="${MAXL_CLI:-./target/release/maxl-cli}"
read -r -a torch_flags <<<"${TORCH_FLAGS:-}"
common=(--device "$device" --threads "$threads" --json)
failed=0

run() { # run TITLE COMMAND...
    echo "== $1"
    shift
    "$@" || { echo "!! failed (exit $?): $*"; failed=1; }
}

if [ "$mode" = ops ]; then
    if [ "$device" != cpu ]; then
        echo "ops mode times the CPU: $0 ops [cpu] [THREADS]" >&2
        exit 2
    fi
    out="${OPS_OUT:-target/bench-ops}"
    mkdir -p "$out"
    ops_args=(--order "${OPS_ORDER:-2}" --config "${OPS_CONFIG:-all}" --runs "${OPS_RUNS:-5}" --threads "$threads" --json)
    # JSON lines to the terminal and to $out.
    run "torch ops" bash -o pipefail -c '"$@" | tee "$0"' "$out/torch.jsonl" "$py" benches/torch_ops.py "${ops_args[@]}"
    run "maxl ops" bash -o pipefail -c '"$@" | tee "$0"' "$out/maxl.jsonl" "$cli" bench ops "${ops_args[@]}"
    run "table" "$cli" bench ops-table --torch "$out/torch.jsonl" --ours "$out/maxl.jsonl" --png "$out/ops_ratio.png"
    exit "$failed"
fi

if [ "$device" = cuda ]; then
    echo "== nvidia-smi"
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv || true
fi
run "torch gemm" "$py" benches/torch_gemm.py "${common[@]}"
run "maxl gemm" "$cli" bench gemm "${common[@]}"
for round in 1 2; do
    run "torch b1 ($round)" "$py" benches/torch_b1.py "${common[@]}" "${torch_flags[@]}"
    run "maxl b1 ($round)" "$cli" bench b1 "${common[@]}"
done
# B2 one step per process, so that each JSON line's max_rss_mib is the peak memory of that step.
for step in single meta stage1 stage2; do
    run "torch b2 $step" "$py" benches/torch_b2.py "${common[@]}" --steps "$step" "${torch_flags[@]}"
    run "maxl b2 $step" "$cli" bench b2 "${common[@]}" --steps "$step"
done
exit "$failed"
