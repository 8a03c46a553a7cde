#!/usr/bin/env bash
# Check that a facelite binary lives within the sandbox of systemd/facelite.service, without
# needing systemd as PID 1:
#   1. runs `serve` under strace -f with a temp data dir and a stand-in NOTIFY_SOCKET, does a few
#      requests (healthz, /version, a failed and a successful login), stops it with SIGTERM;
#      it must send READY=1, watchdog pings and STOPPING=1 (Type=notify, WatchdogSec=);
#   2. every system call it made must be in the unit's SystemCallFilter= allow list
#      (@system-service minus @privileged and @resources, expanded by systemd-analyze);
#   3. every socket it opened must be AF_UNIX, AF_INET or AF_INET6 (RestrictAddressFamilies=);
#   4. no mapping may be writable and executable (MemoryDenyWriteExecute=): strace shows no
#      PROT_WRITE|PROT_EXEC mmap and no mprotect adding PROT_EXEC, and the same run is repeated
#      under the kernel's own W^X enforcement (prctl PR_SET_MDWE, Linux >= 6.3) when available.
#
# Usage: scripts/sandbox-probe.sh BINARY   (a host-runnable facelite, e.g. the x86_64 musl build)
# Needs: strace, curl, python3, systemd-analyze.

set -euo pipefail

bin=$(realpath "${1:?usage: $0 BINARY}")
cd "$(dirname "$0")/.."
unit=systemd/facelite.service
# shellcheck source=scripts/check-static.sh
source scripts/check-static.sh

work=$(mktemp -d)

# Prints the system calls of a systemd syscall group (or a single name), nested groups expanded.
expand_group() {
    local name=$1 line
    if [[ $name != @* ]]; then
        echo "$name"
        return
    fi
    while read -r line; do
        case "$line" in
            ''|'#'*|"$name") ;;
            @*) expand_group "$line" ;;
            *) echo "$line" ;;
        esac
    done < <(systemd-analyze syscall-filter --no-pager "$name")
}

# The allow list the unit's SystemCallFilter= lines produce: the first (allow) line's groups
# minus everything named on the "~" (deny) lines.
allowed_syscalls() {
    local line allow=() deny=() item
    while read -r line; do
        line=${line#SystemCallFilter=}
        if [[ $line == '~'* ]]; then
            read -r -a items <<<"${line#\~}"
            deny+=("${items[@]}")
        else
            read -r -a items <<<"$line"
            allow+=("${items[@]}")
        fi
    done < <(grep '^SystemCallFilter=' "$unit")
    comm -23 <(for item in "${allow[@]}"; do expand_group "$item"; done | sort -u) \
        <(for item in "${deny[@]}"; do expand_group "$item"; done | sort -u)
}

# One serve run with a few requests; $@ is the command prefix (strace, MDWE wrapper, ...).
exercise() {
    local log_file=$1; shift
    start_server "$log_file" "$@" "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data"
    expect_healthy "$SERVER_URL"
    sleep 2   # let a few watchdog periods pass
    curl -sS -o /dev/null "$SERVER_URL/version" || true
    curl -sS -o /dev/null -X POST "$SERVER_URL/api/authorize/auth/" -H 'Content-Type: application/json' \
        -d '{"credentials": {"email": "nobody@example.com", "password": "wrong"}}' || true
    if [[ -s $work/data/initial-admin-password ]]; then
        curl -sS -o /dev/null -X POST "$SERVER_URL/api/authorize/auth/" -H 'Content-Type: application/json' \
            -d "{\"credentials\": {\"email\": \"$(sed -n 's/^email: //p' "$work/data/initial-admin-password")\", \"password\": \"$(sed -n 's/^password: //p' "$work/data/initial-admin-password")\"}}" || true
    fi
    # Under strace the server is strace's child; signal the server itself, not the tracer
    # (strace exits with the server's status).
    local server=$SERVER_PID child
    child=$(pgrep -P "$SERVER_PID" -n || true)
    [[ $1 == strace ]] && [[ -n $child ]] && server=$child
    stop_server "$log_file" "$server"
}

# A stand-in for systemd's notification socket: records every datagram the server sends.
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
        out.flush()' "$work/notify.sock" "$work/notify.log" &
listener=$!
for _ in $(seq 50); do [[ -S $work/notify.sock ]] && break; sleep 0.1; done

log "tracing $bin (with NOTIFY_SOCKET and WATCHDOG_USEC=1s, as under systemd)"
exercise "$work/strace-run.log" strace -f -qq -e trace=all -e signal=none -o "$work/trace" -- \
    env NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=1000000
kill "$listener"
wait "$listener" 2>/dev/null || true
grep -qx 'READY=1' "$work/notify.log" || die "no READY=1 sent to NOTIFY_SOCKET"
grep -qx 'STOPPING=1' "$work/notify.log" || die "no STOPPING=1 sent to NOTIFY_SOCKET"
pings=$(grep -cx 'WATCHDOG=1' "$work/notify.log" || true)
((pings >= 2)) || die "only $pings WATCHDOG=1 pings in the run (want >= 2 with WATCHDOG_USEC=1s)"
log "sd_notify: READY=1, STOPPING=1 and $pings watchdog pings received"
used=$(sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z0-9_]+) resumed>.*/\1/p' "$work/trace" | sort -u)
log "system calls used: $(wc -w <<<"$used")"
missing=$(comm -23 <(echo "$used") <(allowed_syscalls))
if [[ -n $missing ]]; then
    die "system calls outside the unit's SystemCallFilter: $(echo "$missing" | tr '\n' ' ') (trace: $work/trace)"
fi
log "all system calls are in the unit's allow list"

families=$(sed -nE 's/.* socket\((AF_[A-Z0-9]+),.*/\1/p' "$work/trace" | sort -u | tr '\n' ' ')
log "socket families: ${families:-none}"
for f in $families; do
    [[ $f =~ ^AF_(UNIX|INET|INET6)$ ]] || die "socket family $f is outside RestrictAddressFamilies="
done

if grep -E 'mmap\(.*PROT_WRITE\|PROT_EXEC|mmap\(.*PROT_EXEC\|PROT_WRITE|mprotect\(.*PROT_EXEC' "$work/trace"; then
    die "writable+executable mapping or mprotect(PROT_EXEC) seen: MemoryDenyWriteExecute=yes would break it"
fi
log "no writable+executable mappings in the trace"

# Kernel W^X: PR_SET_MDWE(65) with PR_MDWE_REFUSE_EXEC_GAIN(1); inherited across execve.
mdwe_exec=(python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE not supported")
os.execv(sys.argv[1], sys.argv[1:])')
if "${mdwe_exec[@]}" /bin/true 2>/dev/null; then
    rm -rf "$work/data"
    exercise "$work/mdwe-run.log" "${mdwe_exec[@]}"
    log "served and stopped cleanly under the kernel's W^X enforcement (PR_SET_MDWE)"
else
    log "kernel has no PR_SET_MDWE; W^X checked by trace only"
fi
rm -rf "$work"
log "OK: $bin fits the sandbox of $unit"
