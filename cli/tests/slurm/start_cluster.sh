#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for the sweep tests: munged, slurmctld and
# slurmd, each on its own socket/ports, with every file (key, slurm.conf, state, spool, logs,
# pid files) under STATE_DIR. Needs root and Debian's slurm-wlm and munge. On success prints
# the slurm.conf path on its last line (export it as SLURM_CONF); stop with stop_cluster.sh.
set -euo pipefail

STATE="${1:?usage: start_cluster.sh STATE_DIR}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
fail() { echo "start_cluster: $*" >&2; exit 1; }

for tool in munged mungekey slurmctld slurmd sbatch sinfo; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || fail "needs root (slurmd runs jobs as their user)"

# munge: its own key, socket, log, pid and seed files; it wants private folders.
mkdir -p "$STATE/munge"
chmod 700 "$STATE/munge"
mungekey --create --keyfile="$STATE/munge/munge.key" --force
chmod 400 "$STATE/munge/munge.key"
SOCKET="$STATE/munge/munge.socket"
munged --force --key-file="$STATE/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
    --seed-file="$STATE/munge/munged.seed" \
    || fail "munged did not start: $(tail -n 5 "$STATE/munge/munged.log" 2>/dev/null)"

# slurm.conf from what slurmd sees of this machine (cores, memory), on ports unlikely to be
# taken (two test runs at once get different ones).
NODE_LINE="$(slurmd -C | head -n 1)"
NODE="$(hostname -s)"
PORT=$(( 20000 + (RANDOM % 4000) * 2 ))
mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/log"
cat > "$STATE/slurm.conf" <<CONF
ClusterName=maxltest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$(( PORT + 1 ))
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$STATE/slurm.conf"

slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -n 5 "$STATE/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -n 5 "$STATE/log/slurmd.log" 2>/dev/null)"

# Ready once the node is idle (bounded: 60 s).
for _ in $(seq 1 120); do
    state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)"
    if [ "$state" = idle ]; then
        echo "one-node Slurm cluster up: node $NODE, ports $PORT-$(( PORT + 1 ))"
        echo "$SLURM_CONF"
        exit 0
    fi
    sleep 0.5
done
fail "node $NODE not idle after 60 s (state '${state:-none}'); logs: $(tail -n 5 "$STATE/log/slurmd.log" "$STATE/log/slurmctld.log" 2>/dev/null)"
