#!/bin/sh
# kubectl-dra nvidia-smi collector, format version 1.
#
# Runs on a GPU node (or in a container there) and prints what nvidia-smi and sysfs say about the
# GPUs, as delimited sections that `kubectl_dra.nvml.smi.parse_collected` reads back:
#
#   @@kubectl-dra collector version=1 host=<$NODE_NAME or hostname> date=<UTC RFC 3339>
#   @@kubectl-dra begin <section> cmd=<what ran>
#   ...stdout of the command, verbatim...
#   @@kubectl-dra stderr <section>            (only when the command wrote to stderr)
#   ...its stderr...
#   @@kubectl-dra end <section> rc=<exit code | timeout | skipped | notfound>
#   ...
#   @@kubectl-dra done
#
# Sections: version (nvidia-smi --version), query (-q -x), list (-L), query-gpu (index, uuid, bus id,
# compute capability, memory in MiB as CSV), mig-lgi, mig-lci, mig-lgip,
# mig-lgipp, topo (topo -m), nvlink (nvlink -s), pci (sysfs: NVIDIA display-class PCI functions with
# the resolved /sys/devices path and numa_node), xid (NVRM Xid lines of the kernel log, if readable).
#
# Options (all optional):
#   --nvidia-smi CMD   how to run nvidia-smi, word-split (default: nvidia-smi), e.g.
#                      "chroot /driver-root nvidia-smi"
#   --timeout SECS     limit per command (default 20); nvidia-smi hangs on a lost GPU. After one
#                      nvidia-smi command times out, the remaining nvidia-smi sections are skipped.
#   --sysfs DIR        where sysfs is mounted (default /sys)
#   --no-xid           do not read the kernel log
#   --stream           use no temporary files (as when none is writable: a read-only root file
#                      system); stdout goes straight through, stderr is dropped
#
# POSIX sh only: works with dash, bash and busybox ash; needs no timeout(1), readlink(1) or mktemp(1).
# Nothing is written outside one temporary directory, which is removed on exit.

NVSMI=nvidia-smi
LIMIT=20
SYSFS=/sys
XID=1
STREAM=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nvidia-smi) NVSMI=$2; shift 2 ;;
        --timeout) LIMIT=$2; shift 2 ;;
        --sysfs) SYSFS=$2; shift 2 ;;
        --no-xid) XID=0; shift ;;
        --stream) STREAM=1; shift ;;
        *) echo "collector: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$LIMIT" in ''|*[!0-9]*) LIMIT=20 ;; esac

M='@@kubectl-dra'
TMPD=""
[ "$STREAM" = 1 ] || for base in "${TMPDIR:-/tmp}" /tmp /dev/shm /var/tmp .; do
    d="$base/kubectl-dra-collect.$$"
    if mkdir "$d" 2>/dev/null; then TMPD=$d; break; fi
done
cleanup() { [ -n "$TMPD" ] && rm -rf "$TMPD"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# sleep a fraction of a second where sleep(1) allows it, else a whole one
if sleep 0.05 2>/dev/null; then TICK=0.05; TICKS_PER_S=20; else TICK=1; TICKS_PER_S=1; fi

SMI_HUNG=0

# run_section NAME KIND CMD...   (KIND: smi = an nvidia-smi command, other = anything else)
run_section() {
    name=$1; kind=$2; shift 2
    if [ "$kind" = smi ]; then shown="$NVSMI $*"; else shown=$*; fi
    echo "$M begin $name cmd=$shown"
    if [ "$kind" = smi ] && [ "$SMI_HUNG" = 1 ]; then
        echo "$M end $name rc=skipped"
        return
    fi
    [ "$kind" = smi ] && set -- smi "$@"
    if [ -z "$TMPD" ]; then
        # no writable temporary directory: stream stdout, lose stderr
        "$@" 2>/dev/null &
        out=""; err=""
    else
        out="$TMPD/$name.out"; err="$TMPD/$name.err"
        "$@" >"$out" 2>"$err" &
    fi
    pid=$!
    n=0
    max=$((LIMIT * TICKS_PER_S))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$n" -ge "$max" ]; then
            kill -TERM "$pid" 2>/dev/null
            sleep "$TICK"
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep "$TICK"
        n=$((n + 1))
    done
    if [ "$n" -ge "$max" ]; then
        rc=timeout
        [ "$kind" = smi ] && SMI_HUNG=1
        # a process stuck in the kernel cannot be reaped: do not wait for it
    else
        wait "$pid"
        rc=$?
        [ "$rc" = 127 ] && rc=notfound
    fi
    if [ -n "$out" ]; then
        cat "$out" 2>/dev/null
        # keep the end marker on a line of its own
        [ -s "$out" ] && [ "$(tail -c 1 "$out" 2>/dev/null | od -An -c | tr -d ' ')" != '\n' ] && echo
        if [ -s "$err" ]; then
            echo "$M stderr $name"
            cat "$err"
            [ "$(tail -c 1 "$err" 2>/dev/null | od -An -c | tr -d ' ')" != '\n' ] && echo
        fi
        rm -f "$out" "$err"
    else
        echo
    fi
    echo "$M end $name rc=$rc"
}

smi() {
    # shellcheck disable=SC2086  # NVSMI is a command line on purpose
    $NVSMI "$@"
}

pci_functions() {
    # every NVIDIA (vendor 0x10de) display-class (0x03xxxx) PCI function:
    # <bus id> <tab> <resolved /sys/devices path> <tab> <numa_node>
    found=0
    for dev in "$SYSFS"/bus/pci/devices/*; do
        [ -e "$dev/vendor" ] || continue
        read -r vendor <"$dev/vendor" 2>/dev/null || continue
        [ "$vendor" = 0x10de ] || continue
        read -r class <"$dev/class" 2>/dev/null || class=""
        case "$class" in 0x03*) ;; *) continue ;; esac
        path=$(cd -P "$dev" 2>/dev/null && pwd -P)
        numa=-1
        [ -r "$dev/numa_node" ] && read -r numa <"$dev/numa_node"
        printf '%s\t%s\t%s\n' "${dev##*/}" "$path" "$numa"
        found=1
    done
    [ "$found" = 1 ] || echo "# no NVIDIA display-class PCI function under $SYSFS/bus/pci/devices"
    return 0
}

xid_lines() {
    # NVRM Xid reports the kernel still holds; dmesg needs CAP_SYSLOG (or a debug pod)
    dmesg 2>/dev/null | grep 'NVRM: Xid' | tail -n 200
}

# host: $NODE_NAME when set (the downward API's spec.nodeName in a pod), else the host name
# (in a pod without host networking that is the pod's name, not the node's)
echo "$M collector version=1 host=${NODE_NAME:-$(hostname 2>/dev/null || uname -n)} date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
run_section version smi --version
run_section query smi -q -x
run_section list smi -L
run_section query-gpu smi --query-gpu=index,uuid,pci.bus_id,compute_cap,memory.total --format=csv,noheader,nounits
run_section mig-lgi smi mig -lgi
run_section mig-lci smi mig -lci
run_section mig-lgip smi mig -lgip
run_section mig-lgipp smi mig -lgipp
run_section topo smi topo -m
run_section nvlink smi nvlink -s
run_section pci other pci_functions
if [ "$XID" = 1 ]; then
    run_section xid other xid_lines
fi
echo "$M done"
