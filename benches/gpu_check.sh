#!/usr/bin/env bash
# The GPU check of issues 6 and 12, for a GPU machine reached through a tool that gives each
# command a few minutes and returns at most 8 files: two phases of about 5 minutes each, each
# leaving exactly two files in $OUT: summary.txt (PASS/FAIL/TIMEOUT per step, the device each
# test binary ran on, the benchmark JSON lines) and logs-<phase>.tar.gz (every step's full log).
#
#   benches/gpu_check.sh --stage   # here (x86-64, no GPU needed): build, copy and strip the
#                                  # binaries into gpu-bin/ (git-ignored), print its size
#   benches/gpu_check.sh phase1    # there: doctor (every kernel module compiled by NVRTC and
#                                  # loaded through the driver), the CUDA parity tests, the B1
#                                  # step tests, gradcheck order 2 on the GPU
#   benches/gpu_check.sh phase2    # there: gemm vs cuBLAS (n = 1024, 2048, 4096; FP32, TF32),
#                                  # B1 and B2 steps vs PyTorch CUDA
#   benches/gpu_check.sh all       # both, one after the other (the default)
#
# Every step runs under `timeout`, capped so that the phase ends within PHASE_BUDGET seconds
# (default 270) whatever hangs; steps that no longer fit are reported SKIPPED. Test binaries run
# with --nocapture (they print the GPU they ran on) and CUDA_LAUNCH_BLOCKING=1 (a fault names its
# kernel); MAXL_REQUIRE_GPU=1 makes a GPU that fails to open a test failure, not a silent fall
# back to the kernel emulator. The exit status is 0 only when every step passed.
#
# Environment: OUT (default gpu-results), BIN (default gpu-bin), PYTHON (default python3, the
# one with CUDA PyTorch), MAXL_NVRTC_LIB (default: probed, see find_nvrtc), PHASE_BUDGET,
# MAXL_KERNEL_CACHE (default: a fresh folder per run, shared by the steps of the run).
# GPU_CHECK_EMULATOR=1 runs the same steps with the kernel emulator standing in for the GPU (to
# test this script on a machine without one); GPU_CHECK_TEST_FILTER (a libtest filter for the
# test binaries) and GPU_CHECK_GRADCHECK_OPS (`--ops` of gradcheck) narrow the steps for that.
set -u
set -o pipefail

BIN="${BIN:-gpu-bin}"

stage() {
    set -e
    cargo build --release -p maxl-cli
    local tests
    tests=$(cargo test --release --no-run --message-format=json \
        -p maxl-tests --test cuda_parity -p maxl --test cuda_steps |
        grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//')
    rm -rf "$BIN" && mkdir -p "$BIN"
    # The folder ignores itself: it travels with the device tool's `carry`, never into git.
    echo '*' >"$BIN/.gitignore"
    cp target/release/maxl-cli "$BIN/"
    for t in cuda_parity cuda_steps; do
        local f
        f=$(echo "$tests" | grep "/$t-" | head -n 1)
        [ -n "$f" ] || { echo "no $t test binary built" >&2; exit 1; }
        cp "$f" "$BIN/$t"
    done
    strip "$BIN/maxl-cli" "$BIN/cuda_parity" "$BIN/cuda_steps"
    local kib
    kib=$(du -sk "$BIN" | cut -f1)
    echo "staged $BIN: $((kib / 1024)) MiB ($(ls "$BIN" | tr '\n' ' '))"
    # The device tool carries at most 64 MiB: the working tree and $BIN together.
    local tree
    tree=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- 2>/dev/null |
        tail -n 1 | cut -f1)
    echo "working tree that travels: $((tree / 1024)) MiB; with $BIN: $(((tree + kib) / 1024)) MiB (limit 64)"
    [ $((tree + kib)) -lt $((60 * 1024)) ] || { echo "too large for the device tool" >&2; exit 1; }
    # Older glibc here than there is fine; a newer one would not load there.
    ldd --version | head -n 1
}

if [ "${1:-}" = "--stage" ]; then
    stage
    exit $?
fi

PHASE="${1:-all}"
case "$PHASE" in
phase1 | phase2 | all) ;;
*)
    echo "usage: $0 --stage | phase1 | phase2 | all" >&2
    exit 2
    ;;
esac

OUT="${OUT:-gpu-results}"
PY="${PYTHON:-python3}"
BUDGET="${PHASE_BUDGET:-270}"
EMU="${GPU_CHECK_EMULATOR:-0}"
FILTER="${GPU_CHECK_TEST_FILTER:-}"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/maxl-gpu-check.XXXXXX")
LOGS="$WORK/logs"
mkdir -p "$LOGS"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
failed=0
passed=0
DEADLINE=0

say() { echo "$*" | tee -a "$SUMMARY"; }

# run NAME CAP CMD...: CMD under `timeout` (CAP seconds, less if the phase budget is nearly
# spent), output to logs/NAME.log; one PASS/FAIL/TIMEOUT/SKIPPED line in the summary, with the
# log's last lines on a failure.
run() {
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - $(date +%s) - 15))
    if [ "$left" -lt 10 ]; then
        say "SKIPPED  $name (phase budget of ${BUDGET}s spent)"
        failed=$((failed + 1))
        return
    fi
    local t=$cap
    [ "$t" -le "$left" ] || t=$left
    local start rc
    start=$(date +%s)
    echo "\$ $*  (timeout ${t}s)" >"$LOGS/$name.log"
    timeout --kill-after=10 "$t" "$@" >>"$LOGS/$name.log" 2>&1
    rc=$?
    local secs=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then
        say "PASS     $name (${secs}s)"
        passed=$((passed + 1))
    else
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            say "TIMEOUT  $name after ${secs}s (limit ${t}s)"
        else
            say "FAIL     $name (exit $rc, ${secs}s)"
        fi
        failed=$((failed + 1))
        tail -n 25 "$LOGS/$name.log" | sed 's/^/    | /' | tee -a "$SUMMARY"
    fi
}

# The parts of log NAME's lines that match PATTERN (from the match to the line's end; at most
# COUNT, default 20), indented, into the summary.
excerpt() {
    [ -f "$LOGS/$1.log" ] || return 0
    grep -oE "($2).*" "$LOGS/$1.log" | head -n "${3:-20}" | sed 's/^/    /' | tee -a "$SUMMARY"
}

# NVRTC: the CUDA toolkit's first (its version matches the driver's), else a PyPI wheel's: the
# CUDA 13 wheels put it in nvidia/cu13/lib, older ones in nvidia/cuda_nvrtc/lib.
find_nvrtc() {
    [ -n "${MAXL_NVRTC_LIB:-}" ] && return
    local wheels
    wheels=$("$PY" - <<'PYEOF' 2>/dev/null
import os
try:
    import nvidia
    for p in nvidia.__path__:
        for sub in ("cu13/lib", "cuda_nvrtc/lib", "cu12/lib"):
            print(os.path.join(p, sub))
except Exception:
    pass
PYEOF
)
    local d
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $wheels \
        /opt/torch/.venv/lib/python3*/site-packages/nvidia/cu13/lib \
        /usr/local/lib/python3*/dist-packages/nvidia/cu13/lib; do
        if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then
            export MAXL_NVRTC_LIB="$d"
            return
        fi
    done
}

machine() {
    say "== machine ($(date -u +%FT%TZ), $(uname -m), $(nproc) CPUs)"
    if [ "$EMU" = "1" ]; then
        say "kernel emulator standing in for the GPU (GPU_CHECK_EMULATOR=1)"
        export MAXL_CUDA_EMULATOR=1
        unset MAXL_REQUIRE_GPU
    else
        export MAXL_REQUIRE_GPU=1
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
            --format=csv 2>&1 | sed 's/^/    /' | tee -a "$SUMMARY"
    fi
    find_nvrtc
    export LD_LIBRARY_PATH="${MAXL_NVRTC_LIB:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export MAXL_KERNEL_CACHE="${MAXL_KERNEL_CACHE:-$WORK/kernel-cache}"
    say "MAXL_NVRTC_LIB=${MAXL_NVRTC_LIB:-unset} MAXL_KERNEL_CACHE=$MAXL_KERNEL_CACHE"
    say "python: $("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1)"
    for b in maxl-cli cuda_parity cuda_steps; do
        [ -x "$BIN/$b" ] || say "MISSING  $BIN/$b (run benches/gpu_check.sh --stage first, carry $BIN)"
    done
}

phase1() {
    DEADLINE=$(($(date +%s) + BUDGET))
    say "== phase 1: doctor, CUDA parity, B1 steps, gradcheck (budget ${BUDGET}s)"
    run doctor 120 "$BIN/maxl-cli" doctor
    excerpt doctor '^(libcuda|libnvrtc|gpu [0-9]|kernel cache|kernel modules|doctor:)|^  [a-z_]+ +[0-9]+ kernels|FAILED' 24
    local tf=()
    [ -n "$FILTER" ] && tf=("$FILTER")
    run parity 150 env CUDA_LAUNCH_BLOCKING=1 "$BIN/cuda_parity" --nocapture --test-threads 1 "${tf[@]}"
    excerpt parity 'cuda parity: on|^test result|[0-9]+ cases:' 4
    run steps 90 env CUDA_LAUNCH_BLOCKING=1 "$BIN/cuda_steps" --nocapture --test-threads 1 "${tf[@]}"
    excerpt steps 'cuda steps: on|^test result' 4
    local ops=()
    [ -n "${GPU_CHECK_GRADCHECK_OPS:-}" ] && ops=(--ops "$GPU_CHECK_GRADCHECK_OPS")
    run gradcheck 150 "$BIN/maxl-cli" gradcheck --device cuda --order 2 --json "${ops[@]}"
    excerpt gradcheck '^\{[^{]*"ops":|^\{"cases".*"passed":false\}$' 12
}

phase2() {
    DEADLINE=$(($(date +%s) + BUDGET))
    say "== phase 2: gemm vs cuBLAS, B1 and B2 steps vs PyTorch CUDA (budget ${BUDGET}s)"
    run gemm_ours 40 "$BIN/maxl-cli" bench gemm --device cuda --json
    run gemm_ours_tf32 40 "$BIN/maxl-cli" bench gemm --device cuda --json --tf32
    run gemm_torch 60 "$PY" benches/torch_gemm.py --device cuda --json
    excerpt gemm_ours '^\{'
    excerpt gemm_ours_tf32 '^\{'
    excerpt gemm_torch '^\{'
    run b1_ours 45 "$BIN/maxl-cli" bench b1 --device cuda --json
    run b1_torch 60 "$PY" benches/torch_b1.py --device cuda --json
    run b2_ours 60 "$BIN/maxl-cli" bench b2 --device cuda --json
    run b2_torch 60 "$PY" benches/torch_b2.py --device cuda --json
    excerpt b1_ours '^\{'
    excerpt b1_torch '^\{'
    excerpt b2_ours '^\{'
    excerpt b2_torch '^\{'
}

machine
case "$PHASE" in
phase1) phase1 ;;
phase2) phase2 ;;
all)
    phase1
    phase2
    ;;
esac

verdict=PASS
[ "$failed" -eq 0 ] || verdict=FAIL
say "== $PHASE: $verdict ($passed passed, $failed failed, timed out or skipped)"
tar -czf "$OUT/logs-$PHASE.tar.gz" -C "$WORK" logs
echo "files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
rm -rf "$WORK"
[ "$failed" -eq 0 ]
