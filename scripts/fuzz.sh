#!/usr/bin/env bash
# Coverage-guided fuzzing of facelite's parsers with cargo-fuzz / libFuzzer (fuzz/, see the
# README's "Fuzzing" section).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 20 s, every target
#
# Installs cargo-fuzz if it is missing, builds every target once (release, debug assertions,
# no sanitizer: works on the stable toolchain), then runs each target for SECONDS over its
# corpus, fuzz/corpus/TARGET/ (kept between runs, not committed), seeded from the committed
# fuzz/seeds/TARGET/. Prints per target the executions run and the coverage reached, and exits
# non-zero if any target crashed (a panic, an abort, a timeout over 10 s or more than 2 GB of
# memory), naming the input that did it, saved under fuzz/artifacts/TARGET/.
#
# Builds go to fuzz/target, or to $CARGO_TARGET_DIR/fuzz when CARGO_TARGET_DIR is set.
# Environment: FUZZ_NO_BUILD=1 skips the build; FUZZ_ARGS adds libFuzzer flags to every run
# (e.g. FUZZ_ARGS=-jobs=2); FACELITE_FUZZ_STRICT=1 also fails on panics inside dependencies
# that facelite's decoder guard catches (reported as "guarded panic" otherwise).

set -euo pipefail

start=$SECONDS
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-20}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1)); then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift || true

# shellcheck disable=SC1091  # rustup's environment file, present on rustup installs
[[ -f $HOME/.cargo/env ]] && source "$HOME/.cargo/env"

all_targets=()
while IFS= read -r t; do all_targets+=("$t"); done < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^facelite-fuzz$')
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    if [[ ! -f fuzz/fuzz_targets/$t.rs ]]; then
        echo "unknown target '$t'; targets: ${all_targets[*]}" >&2
        exit 2
    fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "::: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "::: $(cargo fuzz --version) ($(rustc --version))"

# fuzz/target, or a fuzz/ directory inside a CARGO_TARGET_DIR that CI keeps between runs (the
# instrumented build shares nothing with the normal one).
if [[ -n ${CARGO_TARGET_DIR:-} ]]; then
    export CARGO_TARGET_DIR=$CARGO_TARGET_DIR/fuzz
else
    export CARGO_TARGET_DIR=$root/fuzz/target
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$CARGO_TARGET_DIR/$triple/release
if [[ ${FUZZ_NO_BUILD:-0} != 1 ]]; then
    t0=$SECONDS
    echo "::: building ${#all_targets[@]} fuzz targets"
    # -s none: no sanitizer, so no nightly-only flag; --debug-assertions: overflow checks and
    # debug_assert! in facelite and its dependencies turn silent wrong results into findings.
    cargo fuzz build -s none --debug-assertions
    echo "::: build took $((SECONDS - t0)) s"
fi

# Scratch space for the targets' temp dirs (store, staging files, manifests), removed at exit.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/facelite-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

dict_for() {
    case $1 in
        upload_multipart | person_upload | lite_input) echo fuzz/dicts/multipart.dict ;;
        json_bodies) echo fuzz/dicts/json.dict ;;
        query) echo fuzz/dicts/query.dict ;;
        model_manifest) echo fuzz/dicts/model_manifest.dict ;;
    esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    artifacts=fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    [[ -d fuzz/seeds/$t ]] && cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    log=$artifacts/last-run.log
    args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
          -artifact_prefix="$artifacts/")
    dict=$(dict_for "$t")
    [[ -n $dict ]] && args+=(-dict="$dict")
    # shellcheck disable=SC2206  # FUZZ_ARGS is a list of flags
    [[ -n ${FUZZ_ARGS:-} ]] && args+=($FUZZ_ARGS)
    echo "::: $t (${secs} s)"
    t0=$SECONDS
    status=0
    TMPDIR=$scratch "$bin_dir/$t" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
    took=$((SECONDS - t0))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
    guarded=$(grep -c '^facelite-fuzz: guarded panic' "$log" || true)
    line=$(printf '%-18s %9s execs  %-36s %3d s' "$t" "${execs:-?}" "${cov:-no coverage reported}" "$took")
    ((guarded > 0)) && line+="  ($guarded guarded dependency panic location(s), see $log)"
    if ((status != 0)); then
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        line+="  FAILED (exit $status): ${crash:-see $log}"
        failed+=("$t")
        grep -E 'facelite-fuzz: PANIC|^==[0-9]+== ERROR|SUMMARY|panicked at' "$log" | head -5 || true
    fi
    echo "$line"
    summary+=("$line")
done

echo "::: fuzzing summary (${secs} s per target; logs in fuzz/artifacts/TARGET/last-run.log)"
printf '  %s\n' "${summary[@]}"
echo "::: total $((SECONDS - start)) s"
if ((${#failed[@]})); then
    echo "::: FAILED: ${failed[*]}"
    echo "    reproduce: $bin_dir/TARGET fuzz/artifacts/TARGET/crash-... (see the README's Fuzzing section)"
    exit 1
fi
echo "::: fuzzing OK"
