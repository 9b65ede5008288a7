#!/usr/bin/env bash
# Builds llama.cpp as a test oracle for bloom4j: llama-perplexity, llama-bench, llama-quantize, llama-tokenize, our
# own bloom-oracle (ci/llama/bloom-oracle.cpp, against llama.h) and llama-perplexity-flushed (llama.cpp's perplexity
# tool with its log drained before exit, ci/llama/perplexity-flushed.cpp), CPU only, Release, from the same pinned
# llama.cpp source that the bloom4j build uses (cmake/fetch-llama.cpp.cmake: npm pack node-llama-cpp@3.22.1,
# SHA-256-checked bundle).
#
#   bash ci/llama/build.sh            # prints, on stdout, three shell assignments:
#   BLOOM_LLAMA_ORACLE=<cache>/llama-build-<commit>-<variant>/bin-<inputs hash>/bloom-oracle
#   BLOOM_LLAMA_BIN=<cache>/llama-build-<commit>-<variant>/bin-<inputs hash>
#   BLOOM_LLAMA_SRC=<cache>/llama.cpp-<commit>          (the source tree; its gguf-py writes test GGUF files)
#
# so `eval "$(bash ci/llama/build.sh)"` sets them. Everything else goes to stderr. The Java suite that uses them:
#   ./mvnw -B -pl java-api -am -Dbloom4j.skipNative -Dgroups=llamacpp -Dbloom4j.llama.oracle="$BLOOM_LLAMA_ORACLE" \
#       -Dbloom4j.llama.bin="$BLOOM_LLAMA_BIN" -Dbloom4j.llama.src="$BLOOM_LLAMA_SRC" test
#
# The build lives in the cache next to the source (BLOOM_CACHE_DIR, else $XDG_CACHE_HOME/bloom4j, else
# ~/.cache/bloom4j), never in the repository; the programs land in a directory named after a hash of everything
# that went into them (see below). A second run with nothing changed does no work.
#
# Environment:
#   BLOOM_LLAMA_VARIANT  an x86-64 variant of cmake/cpu-variants.cmake (x86-64-v4-vnni-bf16, x86-64-v4, x86-64-v3,
#                        x86-64-v2); default: the one bloom4j's library loader picks on this CPU, so that both run
#                        the same kernels. Never -march=native: the binaries must run on any CI machine of that level.
#   BLOOM_LLAMA_JOBS     parallel compile jobs (default: nproc)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
here=$repo/ci/llama
log() { echo "ci/llama: $*" >&2; }

for tool in cmake make g++ git flock; do
    if ! command -v "$tool" >/dev/null; then
        log "$tool is required (apt-get install cmake make g++ git util-linux)"
        exit 1
    fi
done

if [[ -n ${BLOOM_CACHE_DIR:-} ]]; then
    cache=$BLOOM_CACHE_DIR
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
    cache=$XDG_CACHE_HOME/bloom4j
else
    cache=$HOME/.cache/bloom4j
fi

# Until cmake/ggml.cmake includes cmake/fetch-llama.cpp.cmake, both carry the pin; they must agree, or the oracle
# would test bloom4j against a different llama.cpp than the one bloom4j is built on.
pin() { sed -n "s/^ *set($1 \"\\([0-9a-f]*\\)\")/\\1/p" "$2"; }
fetch_script=$repo/cmake/fetch-llama.cpp.cmake
for key in BLOOM_GGML_COMMIT BLOOM_GGML_BUNDLE_SHA256; do
    ours=$(pin "$key" "$fetch_script")
    theirs=$(pin "$key" "$repo/cmake/ggml.cmake")
    if [[ -z $ours ]]; then
        log "cannot read $key from $fetch_script"
        exit 1
    fi
    if [[ -n $theirs && $theirs != "$ours" ]]; then
        log "$key differs: cmake/ggml.cmake has $theirs, cmake/fetch-llama.cpp.cmake has $ours"
        exit 1
    fi
done
commit=$(pin BLOOM_GGML_COMMIT "$fetch_script")

src=$(cmake -DBLOOM_CACHE_DIR="$cache" -P "$fetch_script" | tail -n 1)
[[ -f $src/include/llama.h ]] || { log "fetch did not produce a llama.cpp tree (got '$src')"; exit 1; }

# The same instruction sets as the libbloom.so variant this machine loads (cmake/cpu-variants.cmake holds both the
# choice and each variant's ggml options), so that the oracle runs the same kernels and logits can match bit for bit.
variant=${BLOOM_LLAMA_VARIANT:-$(cmake -P "$repo/cmake/cpu-variants.cmake")}
[[ -n $variant ]] || { log "this CPU runs none of the x86-64 variants (cmake -P cmake/cpu-variants.cmake)"; exit 1; }
if ! options=$(cmake -DBLOOM_GGML_OPTIONS_OF="$variant" -P "$repo/cmake/cpu-variants.cmake" 2>&1); then
    log "BLOOM_LLAMA_VARIANT: $options"
    exit 1
fi
read -ra isa <<< "$options"

build=$cache/llama-build-$commit-$variant
targets=(llama-perplexity llama-bench llama-quantize llama-tokenize bloom-oracle llama-perplexity-flushed)
sources=(CMakeLists.txt bloom-oracle.cpp perplexity-flushed.cpp)

# The llama.cpp build tree is shared by every checkout (CI's, a developer's clones), which may carry different
# versions of ci/llama. The programs are therefore published to a directory named after a hash of every input of
# the build and never changed afterwards: a test run keeps the programs it started with while another checkout
# builds its own version, and a second run with the same inputs does nothing at all.
hash=$(printf '%s\n' "$commit $variant ${isa[*]}" "$(cd "$here" && cat "${sources[@]}" build.sh | sha256sum)" \
    | sha256sum | cut -c1-16)
bin=$build/bin-$hash
all_built() {
    local t
    for t in "${targets[@]}"; do [[ -x $bin/$t ]] || return 1; done
}

if all_built; then
    log "up to date: $bin"
else
    mkdir -p "$build"
    # One build at a time in the shared tree.
    exec 9> "$build.lock"
    flock 9
fi
if ! all_built; then
    start=$SECONDS
    # CMake ties a build tree to one source directory: configure from a copy of ci/llama inside the tree, rewritten
    # only where a file changed so that make sees unchanged timestamps.
    if [[ -f $build/CMakeCache.txt ]] &&
        ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$build/oracle-src" "$build/CMakeCache.txt"; then
        log "$build was configured from another source directory; starting it afresh"
        find "$build" -mindepth 1 -maxdepth 1 ! -name oracle-src -exec rm -rf {} +
    fi
    mkdir -p "$build/oracle-src"
    for f in "${sources[@]}"; do
        cmp -s "$here/$f" "$build/oracle-src/$f" || cp "$here/$f" "$build/oracle-src/$f"
    done
    launcher=()
    if command -v ccache >/dev/null; then
        launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DGGML_CCACHE=OFF)
    fi
    log "configuring llama.cpp $commit ($variant) in $build"
    cmake -S "$build/oracle-src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CPP_DIR="$src" -DGGML_NATIVE=OFF \
        "${isa[@]}" "${launcher[@]}" -Wno-dev >&2
    log "building ${targets[*]} with ${BLOOM_LLAMA_JOBS:-$(nproc)} jobs"
    cmake --build "$build" --target "${targets[@]}" -j "${BLOOM_LLAMA_JOBS:-$(nproc)}" >&2
    rm -rf "$bin.tmp"
    mkdir -p "$bin.tmp"
    for t in "${targets[@]}"; do
        [[ -x $build/bin/$t ]] || { log "build finished but $build/bin/$t is missing"; exit 1; }
        cp "$build/bin/$t" "$bin.tmp/"
    done
    mv "$bin.tmp" "$bin"
    # Other versions' programs: kept a day for runs that may still be using them.
    find "$build" -mindepth 1 -maxdepth 1 -name 'bin-*' ! -path "$bin" -mmin +1440 -exec rm -rf {} +
    log "built in $((SECONDS - start)) s: $bin"
fi

printf 'BLOOM_LLAMA_ORACLE=%q\n' "$bin/bloom-oracle"
printf 'BLOOM_LLAMA_BIN=%q\n' "$bin"
printf 'BLOOM_LLAMA_SRC=%q\n' "$src"
