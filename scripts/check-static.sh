#!/usr/bin/env bash
# Build facelite for the static musl targets, prove the binaries are fully static, and
# smoke-test each one: start `serve` on 127.0.0.1 with a temporary data dir, GET /healthz over
# HTTP and then over TLS (self-signed certificate), stop it with SIGTERM and require exit 0.
# The aarch64 binary runs under qemu-user emulating a Cortex-A53 (a typical kiosk core).
#
# Usage: scripts/check-static.sh [--profile release|dist] [--no-build] [--no-smoke] [TARGET...]
#   TARGET defaults to: x86_64-unknown-linux-musl aarch64-unknown-linux-musl
# Needs: rustup targets for TARGET, gcc-aarch64-linux-gnu + qemu-user-static (aarch64),
#        file, binutils (readelf), curl, openssl.
# Honours CARGO_TARGET_DIR. Exits non-zero on the first failure.
#
# The functions below are also sourced by .ci/run (`source scripts/check-static.sh`), which is
# why nothing runs unless the file is executed directly.

set -euo pipefail

readonly FACELITE_TARGETS_DEFAULT=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
# Seconds a server gets to print its "listening on" line; qemu startup of the models is slow.
readonly FACELITE_START_TIMEOUT=${FACELITE_START_TIMEOUT:-180}
readonly FACELITE_STOP_TIMEOUT=${FACELITE_STOP_TIMEOUT:-60}

log() { printf '[check-static] %s\n' "$*" >&2; }
# Reports a failure, stops a server this script started, and exits 1.
die() {
    printf '[check-static] FAIL: %s\n' "$*" >&2
    if [[ -n ${SERVER_PID:-} ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    exit 1
}

# Runs "$@" and logs how long it took.
timed() {
    local start=$SECONDS
    "$@"
    log "$(printf '%-60.60s %4ds' "$*" $((SECONDS - start)))"
}

# Path of the facelite binary for TARGET and PROFILE.
binary_path() {
    local target=$1 profile=$2
    local dir=${CARGO_TARGET_DIR:-target}
    [[ $profile == dev ]] && profile=debug
    printf '%s/%s/%s/facelite\n' "$dir" "$target" "$profile"
}

build_static() {
    local target=$1 profile=$2
    log "building $target ($profile)"
    timed cargo build --locked --profile "$profile" --target "$target" --bin facelite
}

# Fails unless BIN is a statically linked ELF: `file` says static, there is no program
# interpreter and no NEEDED entry in the dynamic section.
check_static() {
    local bin=$1 desc
    [[ -x $bin ]] || die "$bin does not exist or is not executable"
    desc=$(file -b "$bin")
    log "$bin: $desc"
    grep -Eq 'static-pie linked|statically linked' <<<"$desc" || die "$bin: file(1) does not call it static"
    if readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
        die "$bin requests a program interpreter (dynamic loader)"
    fi
    if readelf -dW "$bin" | grep -q '(NEEDED)'; then
        readelf -dW "$bin" | grep '(NEEDED)' >&2
        die "$bin needs shared libraries"
    fi
    log "$bin is static ($(stat -c %s "$bin") bytes)"
}

# Prints the emulator prefix needed to run a TARGET binary on this host (empty when native).
runner_for() {
    local target=$1
    case "$target" in
        "$(uname -m)"-*) ;;
        aarch64-*) echo "qemu-aarch64-static" ;;
        *) die "no runner known for $target on $(uname -m)" ;;
    esac
}

# Makes a self-signed certificate for 127.0.0.1/localhost in DIR (cert.pem, key.pem).
make_test_cert() {
    local dir=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null ||
        die "openssl could not make a test certificate"
}

# Starts `facelite serve` in the background and waits for its "listening on" line.
# Sets SERVER_PID and SERVER_URL; the server's stderr goes to $LOG.
start_server() {
    local log_file=$1; shift
    "$@" 2>"$log_file" >/dev/null &
    SERVER_PID=$!
    SERVER_URL=
    local waited=0
    while ((waited < FACELITE_START_TIMEOUT * 5)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$log_file" >&2
            die "server exited during start-up"
        fi
        SERVER_URL=$(grep -Eo 'listening on https?://[^ ]+' "$log_file" | head -n1 | cut -d' ' -f3 || true)
        [[ -n $SERVER_URL ]] && return 0
        sleep 0.2
        waited=$((waited + 1))
    done
    cat "$log_file" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    die "server printed no 'listening on' line within ${FACELITE_START_TIMEOUT}s"
}

# Sends SIGTERM to SERVER_PID (or to SIGNAL_PID, e.g. the server under a tracer) and requires
# SERVER_PID to exit with status 0 within the stop timeout.
stop_server() {
    local log_file=$1 signal_pid=${2:-$SERVER_PID} status=0 waited=0
    kill -TERM "$signal_pid"
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < FACELITE_STOP_TIMEOUT * 5)); do
        sleep 0.2
        waited=$((waited + 1))
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        cat "$log_file" >&2
        die "server still running ${FACELITE_STOP_TIMEOUT}s after SIGTERM"
    fi
    wait "$SERVER_PID" || status=$?
    if ((status != 0)); then
        cat "$log_file" >&2
        die "server exited with status $status after SIGTERM (want 0)"
    fi
}

# GET URL/healthz and require HTTP 200.
expect_healthy() {
    local url=$1; shift
    local code
    code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "$@" "$url/healthz") ||
        die "curl $url/healthz failed"
    [[ $code == 200 ]] || die "GET $url/healthz answered $code (want 200)"
    log "GET $url/healthz -> 200"
}

# Every codec of the media layer, through the real product path: a single-request QUALITY
# analysis per clip must reach a final state with the face found in at least 3 decoded frames
# (the small test clips may FAIL as "too small for the motion check"; that still needs frames). Under qemu
# this is what proves the pure-Rust decoders (and tract) work on the target architecture.
readonly SMOKE_CLIPS=(h264_high.mp4 h264_frag.mp4 h264_rot90.mp4 hevc.mp4 vp8.webm mjpeg.avi mjpeg.mov shots.zip)
readonly SMOKE_ADMIN_EMAIL=smoke@facelite.invalid
readonly SMOKE_ADMIN_PASSWORD=smoke-test-password-1
# Frames sampled per clip: enough for the presence check (3), few enough that the eight clips
# take about 3 minutes under qemu (12 frames took about 70 s per clip there).
readonly SMOKE_SAMPLE_FRAMES=4

expect_media_decoded() {
    local url=$1 token clip out
    token=$(curl -sS --max-time 120 -H 'Content-Type: application/json' \
        -d "{\"credentials\": {\"email\": \"$SMOKE_ADMIN_EMAIL\", \"password\": \"$SMOKE_ADMIN_PASSWORD\"}}" \
        "$url/api/authorize/auth/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
        die "login as the smoke-test admin failed"
    for clip in "${SMOKE_CLIPS[@]}"; do
        out=$(curl -sS --max-time 600 -H "X-Forensic-Access-Token: $token" \
            -F "video1=@tests/data/media/$clip;type=application/octet-stream" \
            -F 'payload={"media:tags": {"video1": ["video_selfie"]}, "analyses": [{"type": "quality"}]}' \
            "$url/api/folders/") || die "upload of $clip failed"
        python3 - "$clip" "$out" <<'PY' || die "QUALITY on $clip did not reach a final state with decoded frames"
import json, sys
clip, body = sys.argv[1], json.loads(sys.argv[2])
a = body["analyses"][0]
cues = a["results_media"][0]["results_data"].get("cues", {})
print(f"  {clip}: {a['state']} {a['resolution_status']}, face in {cues.get('face_frames')} of "
      f"{cues.get('sampled_frames')} frames", file=sys.stderr)
sys.exit(0 if a["state"] in ("FINISHED", "FAILED") and cues.get("face_frames", 0) >= 3 else 1)
PY
    done
    log "media: ${#SMOKE_CLIPS[@]} clips decoded and analysed"
}

# Smoke test of BIN run through RUNNER (may be empty): version, serve over HTTP (with a QUALITY
# analysis of every codec's clip), serve over TLS.
smoke_test() {
    local bin=$1 runner=$2 work
    local -a run=()
    [[ -n $runner ]] && run=(env QEMU_CPU="${QEMU_CPU:-cortex-a53}" "$runner")
    work=$(mktemp -d)   # left behind on failure, for its logs

    log "smoke test: ${run[*]:-native} $bin"
    "${run[@]}" "$bin" version >&2 || die "'facelite version' failed"

    start_server "$work/http.log" env FACELITE_ADMIN_EMAIL="$SMOKE_ADMIN_EMAIL" \
        FACELITE_ADMIN_PASSWORD="$SMOKE_ADMIN_PASSWORD" FACELITE_ANALYSIS_SYNC_TIMEOUT_SECS=600 \
        FACELITE_ANALYSIS_SAMPLE_FRAMES="$SMOKE_SAMPLE_FRAMES" \
        "${run[@]}" "$bin" serve \
        --listen 127.0.0.1:0 --data-dir "$work/data"
    [[ $SERVER_URL == http://* ]] || die "expected an http:// listener, got '$SERVER_URL'"
    expect_healthy "$SERVER_URL"
    timed expect_media_decoded "$SERVER_URL"
    stop_server "$work/http.log"
    log "HTTP: started, healthy, stopped with status 0"

    make_test_cert "$work"
    start_server "$work/tls.log" "${run[@]}" "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
        --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
    [[ $SERVER_URL == https://* ]] || die "expected an https:// listener, got '$SERVER_URL'"
    expect_healthy "$SERVER_URL" --cacert "$work/cert.pem"
    stop_server "$work/tls.log"
    log "TLS: started, healthy, stopped with status 0"
    SERVER_PID=
    rm -rf "$work"
}

main() {
    local profile=release build=1 smoke=1
    local -a targets=()
    while (($#)); do
        case "$1" in
            --profile) profile=$2; shift 2 ;;
            --no-build) build=0; shift ;;
            --no-smoke) smoke=0; shift ;;
            -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
            -*) die "unknown option $1" ;;
            *) targets+=("$1"); shift ;;
        esac
    done
    ((${#targets[@]})) || targets=("${FACELITE_TARGETS_DEFAULT[@]}")
    cd "$(dirname "$0")/.."

    local target bin
    for target in "${targets[@]}"; do
        ((build)) && build_static "$target" "$profile"
        bin=$(binary_path "$target" "$profile")
        check_static "$bin"
        ((smoke)) && timed smoke_test "$bin" "$(runner_for "$target")"
    done
    log "OK: ${targets[*]} ($profile) static and answering"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
