#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on this machine, for testing the
# workflow's SLURM profile (workflow/profiles/slurm) without a real cluster.
#
#   sudo scripts/local_slurm.sh start    # install (if missing), configure, start, wait for idle
#   sudo scripts/local_slurm.sh status   # daemons, sinfo, squeue
#   sudo scripts/local_slurm.sh stop     # stop the daemons this script started (pid files)
#
# Needs root and Debian/Ubuntu (apt packages slurm-wlm and munge). Everything
# the daemons write (state, spool, pid and log files) lives in $NEORANK_SLURM_DIR
# (default /tmp/neorank-slurm). Only /etc/slurm/slurm.conf is written outside
# it, and only if it is absent or was written by this script.
# There is no slurmdbd: `sacct` has no job data, so the profile polls with squeue.
# Running `start` twice is safe: running daemons are left alone.
set -euo pipefail

BASE="${NEORANK_SLURM_DIR:-/tmp/neorank-slurm}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
MARKER="# written by neorank scripts/local_slurm.sh"
CLUSTER="neorank-local"
PARTITION="${NEORANK_SLURM_PARTITION:-main}"
WAIT_SECONDS="${NEORANK_SLURM_WAIT:-60}"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid

say() { printf '[local_slurm] %s\n' "$*"; }
die() { printf '[local_slurm] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (installs packages and starts system daemons)."
}

# A pid file whose process is alive.
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    if ((${#missing[@]})); then
        command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} yourself."
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        say "slurm-wlm and munge already installed ($(slurmctld -V))"
    fi
}

start_munge() {
    install -d -o munge -g munge -m 0700 /etc/munge
    if [[ ! -s $MUNGE_KEY ]]; then
        say "writing a 1 KiB random munge key to $MUNGE_KEY"
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    else
        say "munge key $MUNGE_KEY exists; keeping it"
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    if alive "$MUNGE_PID"; then
        say "munged already running (pid $(cat "$MUNGE_PID"))"
    else
        say "starting munged --force as user munge"
        runuser -u munge -- /usr/sbin/munged --force
        touch "$BASE/munged.started-here"
        for _ in $(seq 20); do alive "$MUNGE_PID" && break; sleep 0.25; done
    fi
    munge -n | unmunge | grep -q 'STATUS: *Success' || die "munge -n | unmunge failed; see /var/log/munge/munged.log"
    say "munge works (munge -n | unmunge: Success)"
}

write_conf() {
    local host cpus total_mb margin_mb mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    total_mb=$(free -m | awk '/^Mem:/ {print $2}')
    # Leave 10% (at least 1 GiB) for the OS and the daemons.
    margin_mb=$((total_mb / 10 > 1024 ? total_mb / 10 : 1024))
    mem_mb=$((total_mb - margin_mb))
    ((mem_mb > 0)) || die "could not compute RealMemory from free -m (total ${total_mb} MB)"
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; move it away or set SLURM_CONF to another path."
    fi
    mkdir -p "$(dirname "$CONF")"
    local new="$BASE/slurm.conf.new"
    cat >"$new" <<EOF
$MARKER
# Single-node test cluster; state, spool, pid and log files under $BASE.
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/slurmctld.log
SlurmdLogFile=$BASE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no sacct: finished jobs are appended to this text file instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/jobcomp.log
# squeue keeps finished jobs this long. The profile polls status with squeue, so
# a job that ages out before Snakemake's next status check is never seen to
# finish (the check interval grows up to 180 s; a hiccup makes the plugin skip
# a cycle). One hour leaves a wide margin; the plugin needs at least 120 s.
MinJobAge=3600
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ -e $CONF ]] && cmp -s "$new" "$CONF"; then
        rm -f "$new"
        say "$CONF unchanged (node $host: CPUs=$cpus RealMemory=${mem_mb} MB, partition $PARTITION)"
        return
    fi
    say "writing $CONF (node $host: CPUs=$cpus RealMemory=${mem_mb} MB, partition $PARTITION)"
    mv "$new" "$CONF"
    chmod 0644 "$CONF"
    if alive "$BASE/slurmctld.pid"; then
        say "slurmctld is running: scontrol reconfigure"
        scontrol reconfigure
    fi
}

start_daemon() { # name
    local name=$1 pidfile="$BASE/$1.pid"
    if alive "$pidfile"; then
        say "$name already running (pid $(cat "$pidfile"))"
        return
    fi
    say "starting $name (log $BASE/$name.log)"
    "/usr/sbin/$name"
    for _ in $(seq 40); do alive "$pidfile" && break; sleep 0.25; done
    alive "$pidfile" || { tail -n 20 "$BASE/$name.log" >&2 || true; die "$name did not start"; }
    touch "$BASE/$name.started-here"
}

wait_idle() {
    local host state="" waited=0
    host=$(hostname -s)
    say "waiting up to ${WAIT_SECONDS}s for node $host to be idle"
    while ((waited < WAIT_SECONDS)); do
        state=$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null | head -n 1 || true)
        case "$state" in
            idle | mix | alloc) break ;;
            down* | drain* | drng* | fail* | inval*)
                # ReturnToService=2 normally revives it; nudge it once it has registered.
                scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    if [[ ! $state =~ ^(idle|mix|alloc) ]]; then
        sinfo -N -l >&2 || true
        tail -n 20 "$BASE/slurmctld.log" "$BASE/slurmd.log" >&2 || true
        die "node $host not idle after ${WAIT_SECONDS}s (state '${state:-unknown}'); logs above."
    fi
    sinfo
    say "cluster up: node $host is $state"
}

start() {
    need_root
    install_packages
    mkdir -p "$BASE/state" "$BASE/spool"
    start_munge
    write_conf
    start_daemon slurmctld
    start_daemon slurmd
    wait_idle
}

stop_pid() { # name pidfile
    local name=$1 pidfile=$2 pid
    if ! alive "$pidfile"; then
        say "$name not running"
        return
    fi
    pid=$(cat "$pidfile")
    say "stopping $name (pid $pid)"
    kill "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name still running after 10 s; sending SIGKILL to pid $pid"
        kill -9 "$pid" || true
    fi
}

stop() {
    need_root
    local name
    for name in slurmd slurmctld; do
        if [[ -e "$BASE/$name.started-here" ]]; then
            stop_pid "$name" "$BASE/$name.pid"
            rm -f "$BASE/$name.started-here"
        else
            say "$name was not started by this script; leaving it alone"
        fi
    done
    if [[ -e "$BASE/munged.started-here" ]]; then
        stop_pid munged "$MUNGE_PID"
        rm -f "$BASE/munged.started-here"
    else
        say "munged was not started by this script; leaving it alone"
    fi
    say "stopped (logs and state kept in $BASE)"
}

status() {
    local name pidfile
    for name in munged slurmctld slurmd; do
        pidfile="$BASE/$name.pid"
        [[ $name == munged ]] && pidfile=$MUNGE_PID
        if alive "$pidfile"; then
            say "$name running (pid $(cat "$pidfile"))"
        else
            say "$name not running"
        fi
    done
    if command -v sinfo >/dev/null && sinfo >/dev/null 2>&1; then
        sinfo -N -l
        squeue
    else
        say "sinfo cannot reach a controller"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 {start|stop|status}" >&2
        exit 2
        ;;
esac
