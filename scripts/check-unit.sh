#!/usr/bin/env bash
# Check systemd/facelite.service: `systemd-analyze verify` must be clean and the offline
# security exposure must stay at or below MAX_EXPOSURE (default 2.0).
#
# Usage: scripts/check-unit.sh [FACELITE_BINARY]
# verify insists that ExecStart's program exists; the check runs on a temporary copy of the
# unit whose ExecStart points at FACELITE_BINARY (default: /usr/local/bin/facelite if it exists,
# else /bin/true), so it works on a build machine where facelite is not installed.

set -euo pipefail

readonly MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}

cd "$(dirname "$0")/.."
unit=systemd/facelite.service
bin=${1:-/usr/local/bin/facelite}
[[ -x $bin ]] || bin=/bin/true
bin=$(realpath "$bin")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed "s#^ExecStart=/usr/local/bin/facelite #ExecStart=$bin #" "$unit" >"$work/facelite.service"
grep -q "^ExecStart=$bin " "$work/facelite.service" || {
    echo "check-unit: ExecStart in $unit no longer starts with /usr/local/bin/facelite" >&2
    exit 1
}
if ! out=$(systemd-analyze verify "$work/facelite.service" 2>&1) || [[ -n $out ]]; then
    printf '%s\n' "$out" >&2
    echo "check-unit: systemd-analyze verify is not clean" >&2
    exit 1
fi
echo "check-unit: systemd-analyze verify clean (ExecStart=$bin)"

report=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
score=$(sed -n 's/.*Overall exposure level for facelite.service: \([0-9.]*\).*/\1/p' <<<"$report")
[[ -n $score ]] || { printf '%s\n' "$report" >&2; echo "check-unit: no exposure score" >&2; exit 1; }
grep '✗' <<<"$report" || true
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
    echo "check-unit: exposure $score > $MAX_EXPOSURE" >&2
    exit 1
fi
echo "check-unit: exposure $score (limit $MAX_EXPOSURE)"
