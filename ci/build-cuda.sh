#!/usr/bin/env bash
# Builds the CUDA variant of libbloom.so (ggml's CUDA backend inside, CPU code x86-64-v3) with CMake, outside the
# source tree, and checks how it is linked. Not part of .ci/run: CI machines have no CUDA toolkit, and the build
# (ggml-cuda is ~140 .cu files) takes long, about the whole compile once per GPU architecture.
#
#   ci/build-cuda.sh                                  # default: architectures 80;90, build dir /tmp/bloom4j-cuda-build
#   BLOOM_CUDA_ARCHITECTURES=90 BLOOM_CUDA_JOBS=1 nice -n 19 ci/build-cuda.sh
#
# Environment:
#   BLOOM_CUDA_ARCHITECTURES  GPU architectures, ';' or ',' separated (default "80;90"; CMake BLOOM_CUDA_ARCHITECTURES)
#   BLOOM_CUDA_BUILD_DIR      CMake build directory (default /tmp/bloom4j-cuda-build); reused, so a rerun is incremental
#   BLOOM_CUDA_JOBS           parallel compile jobs (default: number of cores)
#   BLOOM_CUDA_CPU_VARIANT    BLOOM_CPU_VARIANT of the build (default x86-64-v3, the one the bloom4j-natives-cuda
#                             jar holds)
#   BLOOM_CUBLAS_ROOT         cuBLAS outside the toolkit (include/cublas_v2.h, lib/libcublas.so*); default: the
#                             toolkit's, else a pip-installed nvidia-cublas wheel that python3 can see
#   NVCC                      the nvcc to use (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
#
# The checks at the end, each fatal:
#   - NEEDED has libcudart and libcublas (dynamic CUDA runtime) and no libcuda.so.1: the library loads where the
#     CUDA runtime libraries are but no driver or GPU is (ggml then finds 0 CUDA devices and runs on the CPU);
#   - no CUDA driver symbol (cu[A-Z]...) is left undefined;
#   - the only exported symbols are bloom_* (ggml, cudart glue and libstdc++ stay internal);
#   - cuda.properties (CUDA version, architectures: what the Java loader checks against the driver) is beside it.
# Then `./mvnw -Pcuda -pl natives-cuda -am install -Dbloom4j.cuda.prebuilt=<build dir>` packs it as the
# bloom4j-natives-cuda jar without compiling it again.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
archs=${BLOOM_CUDA_ARCHITECTURES:-"80;90"}
build=${BLOOM_CUDA_BUILD_DIR:-/tmp/bloom4j-cuda-build}
jobs=${BLOOM_CUDA_JOBS:-$(nproc)}
cpu_variant=${BLOOM_CUDA_CPU_VARIANT:-x86-64-v3}

log() { printf 'build-cuda: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$build" in
    "$root" | "$root"/*) die "BLOOM_CUDA_BUILD_DIR=$build is inside the source tree; use a directory outside it" ;;
esac

nvcc=${NVCC:-}
if [[ -z $nvcc ]]; then
    if command -v nvcc >/dev/null; then
        nvcc=$(command -v nvcc)
    elif [[ -x /usr/local/cuda/bin/nvcc ]]; then
        nvcc=/usr/local/cuda/bin/nvcc
    else
        die "nvcc not found on PATH nor in /usr/local/cuda/bin: install the CUDA toolkit or set NVCC"
    fi
fi
nvcc_version=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
[[ -n $nvcc_version ]] || die "$nvcc --version printed no release number"

# cuBLAS: the toolkit's (where the include directory under nvcc's TOP has cublas_v2.h), else a pip wheel's (nvidia/cu13 in CUDA 13
# wheels, nvidia/cublas in older ones).
cublas_root=${BLOOM_CUBLAS_ROOT:-}
if [[ -z $cublas_root ]]; then
    toolkit=$("$nvcc" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
    if [[ -z $toolkit || ! ( -f $toolkit/include/cublas_v2.h || -f $toolkit/targets/x86_64-linux/include/cublas_v2.h ) ]]
    then
        cublas_root=$(python3 - 2>/dev/null <<'EOF' || true
import importlib.util, os
spec = importlib.util.find_spec("nvidia")
for base in (spec.submodule_search_locations if spec else []):
    for sub in ("cu13", "cublas"):
        if os.path.isfile(os.path.join(base, sub, "include", "cublas_v2.h")):
            print(os.path.join(base, sub)); raise SystemExit
EOF
)
        [[ -n $cublas_root ]] ||
            die "cuBLAS not found: the toolkit at ${toolkit:-?} has no include/cublas_v2.h and python3 sees no" \
                "nvidia-cublas wheel; install cuBLAS or set BLOOM_CUBLAS_ROOT to a directory with include/ and lib/"
        log "cuBLAS from the pip wheel at $cublas_root"
    fi
fi

log "nvcc $nvcc_version ($nvcc), architectures $archs, CPU variant $cpu_variant, $jobs job(s), build dir $build"
start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBLOOM_CUDA=ON -DBLOOM_BUILD_TESTS=OFF \
    -DBLOOM_CPU_VARIANT="$cpu_variant" -DBLOOM_CUDA_ARCHITECTURES="$archs" -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DBLOOM_CUBLAS_ROOT="$cublas_root"
cmake --build "$build" --target bloom --parallel "$jobs"
seconds=$(($(date +%s) - start))

lib=$build/native/libbloom.so
[[ -f $lib ]] || die "$lib was not built"

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
failures=()
grep -q '^libcudart\.so' <<<"$needed" || failures+=("NEEDED has no libcudart: the CUDA runtime is not linked dynamically")
grep -q '^libcublas\.so' <<<"$needed" || failures+=("NEEDED has no libcublas")
grep -q '^libcuda\.so' <<<"$needed" && failures+=("NEEDED has the driver (libcuda.so): the library would not load without one")
driver_refs=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | grep -E '^cu[A-Z]' || true)
[[ -z $driver_refs ]] || failures+=("undefined CUDA driver symbols: $(tr '\n' ' ' <<<"$driver_refs")")
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}')
foreign=$(grep -v '^bloom_' <<<"$exported" || true)
[[ -z $foreign ]] || failures+=("exported symbols besides bloom_*: $(head -n 20 <<<"$foreign" | tr '\n' ' ')")
grep -q '^cuda\.architectures=.' "$build/native/cuda.properties" 2>/dev/null ||
    failures+=("no cuda.properties with cuda.architectures beside the library")

printf '\n== bloom4j CUDA build ==\n'
printf '  library       %s (%s)\n' "$lib" "$(du -h "$lib" | cut -f1)"
printf '  nvcc          %s, architectures %s, CPU variant %s\n' "$nvcc_version" "$archs" "$cpu_variant"
printf '  build time    %d s (configure + build, %s job(s))\n' "$seconds" "$jobs"
printf '  NEEDED        %s\n' "$(tr '\n' ' ' <<<"$needed")"
printf '  exported      %d symbols, %d of them bloom_*\n' "$(grep -c . <<<"$exported")" "$(grep -c '^bloom_' <<<"$exported")"
printf '  on this machine (ldd):\n'
ldd "$lib" | sed 's/^\s*/                /' || true
if ((${#failures[@]})); then
    printf '  FAILED:\n'
    printf '    - %s\n' "${failures[@]}"
    exit 1
fi
printf '  checks        ok: dynamic cudart/cublas, no libcuda.so.1, no undefined driver symbol, only bloom_* exported,\n'
printf '                cuda.properties: %s\n' "$(grep -v '^#' "$build/native/cuda.properties" | tr '\n' ' ')"
printf '  jar           ./mvnw -Pcuda -pl natives-cuda -am install -Dbloom4j.cuda.prebuilt=%s\n' "$build"
