#!/usr/bin/env bash
# The GPU checks of issue 6 in one run, on a machine with an NVIDIA GPU (the device machine):
# the CUDA parity tests (every op with first and second derivatives, f32, gradcheck on the GPU,
# the B1 stage-1/stage-2 steps), `maxl-cli gradcheck --device cuda`, then gemm against cuBLAS
# and the B1/B2 steps against PyTorch CUDA, each pair in the same run. Figures go to $OUT.
#
# Build on the (x86-64) development machine first, then carry gpu-bin/ with the device tool:
#   cargo build --release -p maxl-cli
#   cargo test --release --no-run -p maxl-tests --test cuda_parity -p maxl --test cuda_steps
#   benches/gpu_check.sh --stage      # copies and strips the binaries into gpu-bin/
# and on the GPU machine: benches/gpu_check.sh
set -u
if [ "${1:-}" = "--stage" ]; then
    rm -rf gpu-bin && mkdir -p gpu-bin
    cp target/release/maxl-cli gpu-bin/
    for t in cuda_parity cuda_steps; do
        f=$(ls -t target/release/deps/$t-* | grep -v '\.d$' | head -n 1)
        cp "$f" "gpu-bin/$t"
    done
    strip gpu-bin/* 2>/dev/null || true
    grep -qx '/gpu-bin/' .git/info/exclude 2>/dev/null || echo '/gpu-bin/' >>.git/info/exclude
    du -sh gpu-bin
    exit 0
fi

OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
BIN="${BIN:-gpu-bin}"
status=0
step() { echo "== $*" | tee -a "$OUT/summary.txt"; }
run() { # run NAME CMD...: output to $OUT/NAME.log, tail to the summary
    local name=$1; shift
    if "$@" >"$OUT/$name.log" 2>&1; then
        tail -n 4 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
    else
        echo "FAILED ($?): $*" | tee -a "$OUT/summary.txt"
        tail -n 20 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
        status=1
    fi
}

# NVRTC: the CUDA toolkit's (its version matches the driver), else the PyPI wheel's.
if [ -z "${MAXL_NVRTC_LIB:-}" ]; then
    wheel=$("$PY" -c 'import nvidia.cuda_nvrtc as m, os; print(os.path.join(os.path.dirname(m.__file__), "lib"))' 2>/dev/null || true)
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $wheel; do
        if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then
            export MAXL_NVRTC_LIB="$d"
            break
        fi
    done
fi
export LD_LIBRARY_PATH="${MAXL_NVRTC_LIB:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee -a "$OUT/summary.txt"
echo "MAXL_NVRTC_LIB=${MAXL_NVRTC_LIB:-unset}" | tee -a "$OUT/summary.txt"
step "doctor (every kernel module through NVRTC)"
run doctor "$BIN/maxl-cli" doctor
step "CUDA parity tests"
run parity "$BIN/cuda_parity" --test-threads 1
run steps "$BIN/cuda_steps" --test-threads 1
step "gradcheck on the GPU (f64, order 2)"
run gradcheck sh -c "'$BIN/maxl-cli' gradcheck --device cuda --order 2 --json | tail -n 1"
step "gemm: maxl-rs vs cuBLAS (FP32, then TF32)"
run gemm_ours "$BIN/maxl-cli" bench gemm --device cuda --json
run gemm_ours_tf32 "$BIN/maxl-cli" bench gemm --device cuda --json --tf32
run gemm_torch "$PY" benches/torch_gemm.py --device cuda
step "B1 and B2 steps: maxl-rs vs PyTorch CUDA (FP32)"
run b1_ours "$BIN/maxl-cli" bench b1 --device cuda --json
run b1_torch "$PY" benches/torch_b1.py --device cuda
run b2_ours "$BIN/maxl-cli" bench b2 --device cuda --json
run b2_torch "$PY" benches/torch_b2.py --device cuda
exit $status
