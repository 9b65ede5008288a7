#!/usr/bin/env bash
# gpu-run.sh on a GPU machine that has no network, no JDK and little time (a lent machine whose every minute
# counts and whose upload is capped): build everything here, pack it into one directory, carry that, unpack there.
#
#   benchmarks/scripts/gpu-bundle.sh pack [DIR]                  # here: writes DIR (default .gpu), ~64 MB
#   benchmarks/scripts/gpu-bundle.sh pack-llama [DIR]            # here: llama-bench for CUDA alone (.gpu-llama)
#   bash benchmarks/scripts/gpu-bundle.sh run DIR STEP [SECONDS]  # there, in a copy of this checkout: unpack DIR,
#                                                                 # then gpu-run.sh STEP (headline, say), bounded
#
# DIR holds: the CUDA libbloom.so (xz), a jlink'ed Java runtime with only the modules the jars use (stripped, xz),
# java.tar.xz: the two jars without their CPU libraries (bloom.jar reduced to what benchmarks.jar lacks, which its
# manifest puts on its class path), the JUnit console launcher (BloomModelTest's GPU test) and java-api's test
# classes, the jars stored uncompressed so that xz compresses them all together (5 MB instead of 12 as deflated
# jars); a GGUF header per model (gguf-random.py header; the run fills it with random weights on the GPU in seconds).
#
# llama.cpp's llama-bench for CUDA travels on its own: xz leaves CUDA machine code large (libbloom.so for sm_90
# alone: 70 MB, 40 MB as xz), so libbloom and llama-bench together are over the 64 MiB one call may carry. pack-llama
# writes DIR (default .gpu-llama) with llama-bench (gpu-run.sh build-llama's, or LLAMA_BENCH_CUDA; xz) and the same
# model headers; `run DIR llama` there runs gpu-run.sh's llama step: it makes the GGUF from the header unless an
# earlier call on the same machine left it, runs llama-bench on it, and needs no JDK. Its result directory joins the
# headline's (copy its llama-bench-*.json in) before gpu-summary.py runs again over the two.
#
# pack needs: the CUDA build of ci/build-cuda.sh (BLOOM_CUDA_BUILD_DIR, default /tmp/bloom4j-cuda-build), the jars
# and test classes of `./mvnw -DskipTests package`, a JDK 23+ with jlink ($JAVA_HOME or /usr/lib/jvm), xz, python3.
# A model's header is cut from a bf16 GGUF that `bloom init-random` + `bloom convert` write once into
# $BLOOM_GPU_HEADER_CACHE (default ~/.cache/bloom4j/gpu-headers; bloom-7b1 takes ~28 GB of disk and a few minutes
# while it is made, then only the header is kept).
# Environment: BLOOM_GPU_MODELS (default bloom-7b1: the models whose headers go in), LLAMA_BENCH_CUDA (pack-llama:
# a llama-bench built for CUDA with llama and ggml linked in; default gpu-run.sh build-llama's).
# run needs: bash, tar, xz, g++ (the C harness of the Java-vs-C figures), python3 with PyTorch or NumPy, nvidia-smi;
# it finds libcudart/libcublas on the machine.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$repo"
log() { echo "gpu-bundle: $*" >&2; }
die() { log "error: $*"; exit 1; }

pack() {
    local dir=${1:-.gpu} build=${BLOOM_CUDA_BUILD_DIR:-/tmp/bloom4j-cuda-build} jdk=${JAVA_HOME:-}
    if [[ -z $jdk || ! -x $jdk/bin/jlink ]]; then
        jdk=""
        for candidate in /usr/lib/jvm/*25* /usr/lib/jvm/*24* /usr/lib/jvm/*23*; do
            [[ -x $candidate/bin/jlink ]] && { jdk=$candidate; break; }
        done
    fi
    [[ -n $jdk ]] || die "no JDK 23+ with jlink: set JAVA_HOME"
    [[ -f $build/native/libbloom.so ]] || die "no CUDA library at $build/native/libbloom.so: run ci/build-cuda.sh"
    for f in cli/target/bloom.jar benchmarks/target/benchmarks.jar java-api/target/test-classes; do
        [[ -e $f ]] || die "no $f: run ./mvnw -DskipTests package"
    done
    mkdir -p "$dir"
    log "CUDA library from $build"
    xz -T0 -9 -c "$build/native/libbloom.so" > "$dir/libbloom.so.xz"
    log "Java runtime (jlink)"
    local tmp
    tmp=$(mktemp -d)
    # The modules jdeps finds in both jars, less java.desktop and java.sql (only optional Jackson and JMH corners).
    "$jdk/bin/jlink" --add-modules java.base,java.management,jdk.unsupported,java.logging,java.net.http \
        --strip-debug --no-header-files --no-man-pages --output "$tmp/jre"
    find "$tmp/jre" -name '*.so' -exec strip {} +
    tar -C "$tmp" -cf - jre | xz -T0 -9 > "$dir/jre.tar.xz"
    rm -rf "$tmp"
    log "jars"
    tmp=$(mktemp -d)
    mkdir "$tmp/java"
    ./mvnw -B -q dependency:copy -N -DoutputDirectory="$tmp" -Dmdep.stripVersion=true \
        -Dartifact=org.junit.platform:junit-platform-console-standalone:"$(./mvnw -B -q -N \
            help:evaluate -Dexpression=junit.version -DforceStdout)" >&2
    python3 - "$tmp/java" "$tmp"/junit-platform-console-standalone*.jar <<'PY'
import sys, zipfile
out, junit = sys.argv[1], sys.argv[2]
bench = set(zipfile.ZipFile("benchmarks/target/benchmarks.jar").namelist())
def copy(src, dst, slim):
    zin = zipfile.ZipFile(src)
    # Stored, not deflated: xz then compresses the jars together, far better than deflate entry by entry.
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for entry in zin.infolist():
            name, data = entry.filename, zin.read(entry.filename)
            if name.startswith("native/") and name.endswith(".so"):
                continue  # the CPU libraries: the run loads the CUDA one by path
            if slim and name == "META-INF/MANIFEST.MF":
                data = (data.decode().rstrip("\r\n")
                        + "\r\nClass-Path: ../../benchmarks/target/benchmarks.jar\r\n\r\n").encode()
            elif slim and name in bench and not name.startswith("META-INF/"):
                continue
            zout.writestr(entry, data, compress_type=zipfile.ZIP_STORED)
copy("benchmarks/target/benchmarks.jar", f"{out}/benchmarks.jar", False)
copy("cli/target/bloom.jar", f"{out}/bloom.jar", True)
copy(junit, f"{out}/junit-console.jar", False)
PY
    cp -r java-api/target/test-classes "$tmp/java/"
    tar -C "$tmp" -cf - java | xz -T0 -9e > "$dir/java.tar.xz"
    rm -rf "$tmp" "$dir/bloom.jar" "$dir/benchmarks.jar" "$dir/junit-console.jar" "$dir/test-classes.tgz"
    stamp "$dir"
    headers "$dir"
    wrote "$dir"
}

# The commit the run records (machine.txt; a copied checkout may have no .git) and the pack's identity.
stamp() {
    local dir=$1
    echo "$(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')" > "$dir/commit"
    date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$dir/pack-id"   # tells a run whether what it unpacked before is this pack
}

# DIR/<model>-bf16.header.xz for each of BLOOM_GPU_MODELS, cut from a GGUF written once into the header cache.
headers() {
    local dir=$1 models=${BLOOM_GPU_MODELS:-bloom-7b1} cache=${BLOOM_GPU_HEADER_CACHE:-$HOME/.cache/bloom4j/gpu-headers} m
    mkdir -p "$cache"
    IFS=, read -ra ms <<< "$models"
    for m in "${ms[@]}"; do
        [[ $m != *:* ]] || die "BLOOM_GPU_MODELS: $m is a cut shape; pack takes whole models only"
        local header=$cache/$m-bf16.header
        if [[ ! -f $header ]]; then
            log "$m: writing a random bf16 checkpoint and GGUF once, for its header"
            rm -rf "$cache/$m" "$cache/$m-bf16.gguf"
            ./bloom init-random --config "$m" --out "$cache/$m" --dtype bf16 --seed 1 >&2
            ./bloom convert --model "$cache/$m" --out "$cache/$m-bf16.gguf" --type bf16 >&2
            python3 benchmarks/scripts/gguf-random.py header "$cache/$m-bf16.gguf" "$header" >&2
            rm -rf "$cache/$m" "$cache/$m-bf16.gguf"
        fi
        xz -9 -c "$header" > "$dir/$m-bf16.header.xz"
    done
}

wrote() {
    local dir=$1
    # A device call carries the checkout's untracked files too: a pack that git does not ignore would travel twice.
    local ignored=0
    git check-ignore -q "$dir" 2>/dev/null || ignored=$?
    (( ignored != 1 )) || log "warning: git does not ignore $dir: add it to .git/info/exclude, or every call \
carries it beside the pack it names"
    log "wrote $dir: $(du -cb "$dir" | tail -n 1 | cut -f1) bytes (with the checkout: \
$(( $(du -cb "$dir" | tail -n 1 | cut -f1) + $(git ls-files -co --exclude-standard -z | xargs -0 du -cb | tail -n 1 | cut -f1) )))"
}

pack_llama() {
    local dir=${1:-.gpu-llama} bench=${LLAMA_BENCH_CUDA:-${BLOOM_GPU_WORK:-$HOME/.cache/bloom4j/gpu-run}/llama-cuda/bin/llama-bench}
    [[ -x $bench ]] || die "no llama-bench at $bench: run gpu-run.sh build-llama (or set LLAMA_BENCH_CUDA)"
    readelf -d "$bench" | grep -q 'NEEDED.*libggml' && die "$bench loads ggml as a shared library: build it with \
-DBUILD_SHARED_LIBS=OFF (gpu-run.sh build-llama does) so that it travels as one file"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "llama-bench from $bench"
    strip -o "$dir/llama-bench" "$bench"   # its symbols: 8 of 77 MB
    xz -T0 -9 "$dir/llama-bench"
    stamp "$dir"
    headers "$dir"
    wrote "$dir"
}

run() {
    local dir=${1:?run needs DIR} step=${2:?run needs STEP} limit=${3:-480} g=/tmp/bloom4j-gpu-bundle start bloom=""
    start=$(date +%s)
    # A bloom4j pack (pack), or llama-bench alone (pack-llama), which runs the llama step only.
    [[ -f $dir/libbloom.so.xz ]] && bloom=1
    [[ -n $bloom || -f $dir/llama-bench.xz ]] || die "$dir is not a directory that gpu-bundle.sh packed"
    [[ -n $bloom || $step == llama ]] || die "$dir holds llama-bench alone: its step is llama, not $step"
    # What an earlier run unpacked is reused only if it came from the same pack; the models in
    # /tmp/bloom4j-gpu-work stay for any pack (a llama call after a headline call on the same machine reuses them).
    if ! cmp -s "$dir/pack-id" "$g/pack-id"; then
        rm -rf "$g"
    fi
    mkdir -p "$g" /tmp/bloom4j-gpu-work
    if [[ -n $bloom ]]; then
        [[ -x $g/jre/bin/java ]] || tar -xJf "$dir/jre.tar.xz" -C "$g"
        [[ -f $g/libbloom.so ]] || xz -dc "$dir/libbloom.so.xz" > "$g/libbloom.so"
    fi
    if [[ -f $dir/llama-bench.xz && ! -x $g/llama-bench ]]; then
        xz -dc "$dir/llama-bench.xz" > "$g/llama-bench"
        chmod +x "$g/llama-bench"
    fi
    for h in "$dir"/*.header.xz; do
        if [[ -f $h ]]; then
            xz -dc "$h" > "/tmp/bloom4j-gpu-work/$(basename "$h" .xz)"
        fi
    done
    cp "$dir/pack-id" "$g/pack-id"
    # libcudart and libcublas wherever this machine has them (the toolkit, a pip wheel).
    local libs f
    libs=$(for n in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
        find / -name "$n" -not -path '/proc/*' 2>/dev/null | head -n 1 || true; done |
        xargs -r -n 1 dirname | sort -u | paste -sd: -)
    export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    for f in "$g/libbloom.so" "$g/llama-bench"; do
        [[ -f $f ]] && { ldd "$f" | grep -E 'cudart|cublas|libcuda|not found' >&2 || true; }
    done
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >&2
    fi
    local vars=(BLOOM_COMMIT="${BLOOM_COMMIT:-$(cat "$dir/commit") (as packed)}" BLOOM_GPU_WORK=/tmp/bloom4j-gpu-work)
    if [[ -n $bloom ]]; then
        export JAVA_HOME=$g/jre PATH=$g/jre/bin:$PATH
        [[ -d $g/java ]] || tar -xJf "$dir/java.tar.xz" -C "$g"
        mkdir -p cli/target benchmarks/target java-api/target
        cp "$g/java/bloom.jar" cli/target/bloom.jar
        cp "$g/java/benchmarks.jar" benchmarks/target/benchmarks.jar
        rm -rf java-api/target/test-classes
        cp -r "$g/java/test-classes" java-api/target/
        touch cli/target/bloom.jar  # newer than the copied sources: ./bloom must not try to rebuild it
        vars+=(BLOOM_CUDA_LIB="$g/libbloom.so" JUNIT_CONSOLE_JAR="$g/java/junit-console.jar")
    fi
    [[ -x $g/llama-bench ]] && vars+=(LLAMA_BENCH="$g/llama-bench")
    log "unpacked in $(( $(date +%s) - start )) s; gpu-run.sh $step for at most $limit s"
    env "${vars[@]}" timeout "$limit" bash benchmarks/scripts/gpu-run.sh "$step"
}

case ${1:-} in
    pack) shift; pack "$@" ;;
    pack-llama) shift; pack_llama "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: gpu-bundle.sh pack [DIR] | gpu-bundle.sh pack-llama [DIR] | gpu-bundle.sh run DIR STEP [SECONDS]" ;;
esac
