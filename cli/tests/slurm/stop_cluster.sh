#!/usr/bin/env bash
# Stops what start_cluster.sh started in STATE_DIR (by the pid files it wrote there): slurmd,
# slurmctld and munged, then waits (bounded) for them to be gone.
set -uo pipefail

STATE="${1:?usage: stop_cluster.sh STATE_DIR}"
pids=()
for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    if [ -s "$STATE/$f" ]; then
        pid="$(cat "$STATE/$f")"
        kill "$pid" 2>/dev/null && pids+=("$pid")
    fi
done
for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && exit 0
    sleep 0.2
done
for pid in "${pids[@]}"; do
    kill -9 "$pid" 2>/dev/null
done
exit 0
