#!/usr/bin/env bash
# gpu-run.sh on a GPU machine that has no network, no JDK and little time (a lent machine whose every minute
# counts and whose upload is capped): build everything here, pack it into one directory, carry that, unpack there.
#
#   benchmarks/scripts/gpu-bundle.sh pack [DIR]                  # here: writes DIR (default .gpu), ~64 MB
#   bash benchmarks/scripts/gpu-bundle.sh run DIR STEP [SECONDS]  # there, in a copy of this checkout: unpack DIR,
#                                                                 # then gpu-run.sh STEP (headline, say), bounded
#
# DIR holds: the CUDA libbloom.so (xz), a jlink'ed Java runtime with only the modules the jars use (stripped, xz),
# java.tar.xz: the two jars without their CPU libraries (bloom.jar reduced to what benchmarks.jar lacks, which its
# manifest puts on its class path), the JUnit console launcher (BloomModelTest's GPU test) and java-api's test
# classes, the jars stored uncompressed so that xz compresses them all together (5 MB instead of 12 as deflated
# jars); a GGUF header per model (gguf-random.py header; the run fills it with random weights on the GPU in seconds);
# optionally llama-bench built for CUDA (xz).
#
# pack needs: the CUDA build of ci/build-cuda.sh (BLOOM_CUDA_BUILD_DIR, default /tmp/bloom4j-cuda-build), the jars
# and test classes of `./mvnw -DskipTests package`, a JDK 23+ with jlink ($JAVA_HOME or /usr/lib/jvm), xz, python3.
# A model's header is cut from a bf16 GGUF that `bloom init-random` + `bloom convert` write once into
# $BLOOM_GPU_HEADER_CACHE (default ~/.cache/bloom4j/gpu-headers; bloom-7b1 takes ~28 GB of disk and a few minutes
# while it is made, then only the header is kept).
# Environment: BLOOM_GPU_MODELS (default bloom-7b1: the models whose headers go in), LLAMA_BENCH_CUDA (a llama-bench
# built for CUDA, linked statically, to carry too; mind the size).
# run needs: bash, tar, xz, g++ (the C harness of the Java-vs-C figures), python3 with PyTorch or NumPy, nvidia-smi;
# it finds libcudart/libcublas on the machine.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$repo"
log() { echo "gpu-bundle: $*" >&2; }
die() { log "error: $*"; exit 1; }

pack() {
    local dir=${1:-.gpu} build=${BLOOM_CUDA_BUILD_DIR:-/tmp/bloom4j-cuda-build} models=${BLOOM_GPU_MODELS:-bloom-7b1}
    local cache=${BLOOM_GPU_HEADER_CACHE:-$HOME/.cache/bloom4j/gpu-headers} jdk=${JAVA_HOME:-} m
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
    mkdir -p "$dir" "$cache"
    log "CUDA library from $build"
    xz -T0 -9 -c "$build/native/libbloom.so" > "$dir/libbloom.so.xz"
    if [[ -n ${LLAMA_BENCH_CUDA:-} ]]; then
        xz -T0 -9 -c "$LLAMA_BENCH_CUDA" > "$dir/llama-bench.xz"
    fi
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
    # The commit the run records (machine.txt): a copied checkout may have no .git.
    echo "$(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')" > "$dir/commit"
    date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$dir/pack-id"   # tells a run whether what it unpacked before is this pack
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
    log "wrote $dir: $(du -cb "$dir" | tail -n 1 | cut -f1) bytes (with the checkout: \
$(( $(du -cb "$dir" | tail -n 1 | cut -f1) + $(git ls-files -co --exclude-standard -z | xargs -0 du -cb | tail -n 1 | cut -f1) )))"
}

run() {
    local dir=${1:?run needs DIR} step=${2:?run needs STEP} limit=${3:-480} g=/tmp/bloom4j-gpu-bundle start
    start=$(date +%s)
    # What an earlier run unpacked is reused only if it came from the same pack.
    if ! cmp -s "$dir/pack-id" "$g/pack-id"; then
        rm -rf "$g"
    fi
    mkdir -p "$g" /tmp/bloom4j-gpu-work
    [[ -x $g/jre/bin/java ]] || tar -xJf "$dir/jre.tar.xz" -C "$g"
    [[ -f $g/libbloom.so ]] || xz -dc "$dir/libbloom.so.xz" > "$g/libbloom.so"
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
    export JAVA_HOME=$g/jre PATH=$g/jre/bin:$PATH
    # libcudart and libcublas wherever this machine has them (the toolkit, a pip wheel).
    local libs
    libs=$(for n in libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
        find / -name "$n" -not -path '/proc/*' 2>/dev/null | head -n 1 || true; done |
        xargs -r -n 1 dirname | sort -u | paste -sd: -)
    export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    ldd "$g/libbloom.so" | grep -E 'cudart|cublas' >&2 || true
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >&2
    fi
    [[ -d $g/java ]] || tar -xJf "$dir/java.tar.xz" -C "$g"
    mkdir -p cli/target benchmarks/target java-api/target
    cp "$g/java/bloom.jar" cli/target/bloom.jar
    cp "$g/java/benchmarks.jar" benchmarks/target/benchmarks.jar
    rm -rf java-api/target/test-classes
    cp -r "$g/java/test-classes" java-api/target/
    touch cli/target/bloom.jar  # newer than the copied sources: ./bloom must not try to rebuild it
    log "unpacked in $(( $(date +%s) - start )) s; gpu-run.sh $step for at most $limit s"
    local llama=()
    if [[ -x $g/llama-bench ]]; then
        llama=(LLAMA_BENCH="$g/llama-bench")
    fi
    env "${llama[@]}" BLOOM_COMMIT="${BLOOM_COMMIT:-$(cat "$dir/commit") (as packed)}" \
        BLOOM_CUDA_LIB="$g/libbloom.so" JUNIT_CONSOLE_JAR="$g/java/junit-console.jar" \
        BLOOM_GPU_WORK=/tmp/bloom4j-gpu-work timeout "$limit" bash benchmarks/scripts/gpu-run.sh "$step"
}

case ${1:-} in
    pack) shift; pack "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: gpu-bundle.sh pack [DIR] | gpu-bundle.sh run DIR STEP [SECONDS]" ;;
esac
