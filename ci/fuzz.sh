#!/usr/bin/env bash
# Fuzzes bloom4j's file readers for a bounded time: builds the libFuzzer targets of native/fuzz/ with clang (ASan +
# UBSan, bloom's sources and ggml instrumented), writes the seed corpora, replays the saved reproducers of past
# findings, then runs each target for BLOOM_FUZZ_SECONDS. Fails on any crash, sanitizer report, leak, timeout or
# oversized allocation, leaving the input that caused it under $BLOOM_FUZZ_DIR/artifacts/ and printing how to replay it.
#
# Environment (all optional):
#   BLOOM_FUZZ_SECONDS   fuzzing time per target, seconds (default 60)
#   BLOOM_FUZZ_TARGETS   targets to run (default "fuzz-safetensors fuzz-gguf")
#   BLOOM_FUZZ_DIR       build, corpus and artifact directory (default build/fuzz; a corpus kept there grows
#                        from run to run)
#   BLOOM_FUZZ_JOBS      parallel compile jobs (default: number of cores)
#   BLOOM_FUZZ_RSS_MB    memory limit of a fuzzing process (default 2048)
#   BLOOM_FUZZ_MALLOC_MB largest single allocation allowed (default 256: the inputs are a few kilobytes, so a
#                        reader asking for more trusted a size field it should have checked)
#   CLANG_VERSION        clang to use and install (default 14)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

log() { echo "fuzz: $*" >&2; }

seconds=${BLOOM_FUZZ_SECONDS:-60}
targets=${BLOOM_FUZZ_TARGETS:-"fuzz-safetensors fuzz-gguf"}
work=${BLOOM_FUZZ_DIR:-build/fuzz}
jobs=${BLOOM_FUZZ_JOBS:-$(nproc)}
rss_mb=${BLOOM_FUZZ_RSS_MB:-2048}
malloc_mb=${BLOOM_FUZZ_MALLOC_MB:-256}
clang_version=${CLANG_VERSION:-14}
cc=clang-$clang_version
cxx=clang++-$clang_version

# ------------------------------------------------------------------ tools
# clang itself, and libFuzzer's runtime, which Debian ships apart from the compiler.
have_fuzzer_runtime() {
    command -v "$cxx" >/dev/null || return 1
    local rt
    rt=$("$cxx" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a
    [[ -e "$rt" ]]
}

if ! have_fuzzer_runtime || ! command -v cmake >/dev/null || ! command -v make >/dev/null; then
    packages=("clang-$clang_version" "libclang-rt-$clang_version-dev" cmake make)
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { log "need root (or sudo) to install: ${packages[*]}"; exit 1; }
        sudo=(sudo)
    fi
    log "installing with apt-get: ${packages[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
    have_fuzzer_runtime || { log "$cxx or libFuzzer's runtime is still missing after the install"; exit 1; }
fi

# ------------------------------------------------------------------ build
mkdir -p "$work"
work=$(readlink -f "$work")
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
log "building the fuzz targets with $("$cxx" --version | head -n 1) in $work/build"
CC=$cc CXX=$cxx cmake -S native/fuzz -B "$work/build" -DBLOOM_ROOT="$PWD" "${launcher[@]}" >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; log "configuring native/fuzz failed"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$work/build" -j "$jobs" --target make-seeds $targets >"$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log" >&2; log "building the fuzz targets failed (full log: $work/build.log)"; exit 1; }

rm -rf "$work/seeds"
"$work/build/make-seeds" "$work/seeds"

# ------------------------------------------------------------------ run
# The readers open paths: the targets write each input under /dev/shm (or $TMPDIR) in a directory of their own and
# remove it at exit. A crashed process cannot, so its directory is removed here.
cleanup_scratch() {
    local pid=$1 d
    for d in /dev/shm/bloom-fuzz-"$pid"-* "${TMPDIR:-/tmp}"/bloom-fuzz-"$pid"-*; do
        [[ -d "$d" ]] && rm -rf -- "$d"
    done
    return 0
}

failed=()
for target in $targets; do
    case $target in
        fuzz-safetensors) kind=safetensors ;;
        fuzz-gguf)        kind=gguf ;;
        *) log "unknown target $target"; exit 1 ;;
    esac
    corpus=$work/corpus/$target
    artifacts=$work/artifacts
    mkdir -p "$corpus" "$artifacts"
    regressions=native/fuzz/regressions/$kind
    inputs=("$corpus" "$work/seeds/$kind")
    [[ -d "$regressions" ]] && inputs+=("$regressions")
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb="$rss_mb" -malloc_limit_mb="$malloc_mb"
             -dict="native/fuzz/$kind.dict" -artifact_prefix="$artifacts/$target-" -print_final_stats=1)

    log "$target: ${seconds}s (seeds, saved reproducers and the corpus first)"
    logfile=$work/$target.log
    set +e
    "$work/build/$target" "${options[@]}" "${inputs[@]}" >"$logfile" 2>&1 &
    pid=$!
    wait "$pid"
    rc=$?
    set -e
    cleanup_scratch "$pid"
    if [[ $rc -eq 0 ]]; then
        log "$target: ok, $(sed -n 's/^stat::number_of_executed_units: *//p' "$logfile") inputs," \
            "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logfile")/s, corpus $(find "$corpus" -type f | wc -l) files"
    else
        grep -v '^#\|^"\|^INFO\|^MS:\|^Recommended\|^###' "$logfile" | tail -n 60 >&2
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logfile" | tail -n 1)
        log "$target FAILED (exit $rc; full log: $logfile)"
        if [[ -n "$artifact" ]]; then
            log "reproduce: $work/build/$target $artifact   (BLOOM_FUZZ_VERBOSE=1 says what each input became)"
            log "after the fix, keep it as a regression input: cp $artifact $regressions/"
        fi
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    log "findings in: ${failed[*]}"
    exit 1
fi
log "no findings"
