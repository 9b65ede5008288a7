#!/usr/bin/env bash
# Issue 4's GPU measurements, as one command per step on a machine with an NVIDIA GPU (the device machines give a
# command at most 10 minutes, so the work is cut into steps that each fit and reuse what the previous ones left):
#
#   benchmarks/scripts/gpu-run.sh build      # CUDA libbloom (-Pcuda) + jars, and llama.cpp's llama-bench for CUDA
#   benchmarks/scripts/gpu-run.sh models     # random-weight bloom-560m, -1b7, -7b1 checkpoints, GGUF f16/bf16/q8_0/q4_0
#   benchmarks/scripts/gpu-run.sh measure    # reference GEMM/copy, JMH prefill/decode, llama-bench; results
#   benchmarks/scripts/gpu-run.sh all        # the three in order
#
# Results: benchmarks/results/gpu-<UTC date-time>/ with reference.json (DeviceReference: GEMM TFLOP/s and copy
# GB/s on this GPU), jmh-<model>-<type>.json (InferenceBenchmark: prefill tokens/s and GFLOP/s for 128/512/2048-token
# prompts, decode tokens/s and GB/s at context 128 and 2048), llama-bench-<model>-<type>.json, machine.txt
# (nvidia-smi's GPU name, driver, memory; CPU; date; commit; the command) and summary.md (MFU against the datasheet
# peak and against the same-run GEMM, MBU against 3.35 TB/s and the same-run copy, bloom4j / llama.cpp ratios).
#
# Environment: BLOOM_CUDA_ARCHITECTURES (default 90: H100/H200), BLOOM_GPU_MODELS (default bloom-560m,bloom-1b7,
# bloom-7b1), BLOOM_CUBLAS_ROOT (a cuBLAS outside the toolkit, see README), BLOOM_GPU_TYPES (default bf16,f16,q8_0,q4_0), BLOOM_GPU_WORK (default ~/.cache/bloom4j/gpu-run: models
# and the llama.cpp CUDA build), PEAK_TFLOPS (default 989, H100 SXM dense bf16), PEAK_GBPS (default 3350).
# Needs: nvidia-smi, nvcc (CUDA 12+/13), cmake, g++, a JDK 23+ ($JAVA_HOME or /usr/lib/jvm), python3 for the summary.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$repo"
step=${1:-}
archs=${BLOOM_CUDA_ARCHITECTURES:-90}
models=${BLOOM_GPU_MODELS:-bloom-560m,bloom-1b7,bloom-7b1}
types=${BLOOM_GPU_TYPES:-bf16,f16,q8_0,q4_0}
work=${BLOOM_GPU_WORK:-$HOME/.cache/bloom4j/gpu-run}
peak_tflops=${PEAK_TFLOPS:-989}
peak_gbps=${PEAK_GBPS:-3350}

log() { echo "gpu-run: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -z ${JAVA_HOME:-} ]]; then
    JAVA_HOME=$(ls -d /usr/lib/jvm/*25* /usr/lib/jvm/*24* /usr/lib/jvm/*23* 2>/dev/null | head -n 1 || true)
fi
[[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]] || die "no JDK 23+ found: set JAVA_HOME"
export JAVA_HOME
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED)
mkdir -p "$work"

build() {
    command -v nvidia-smi >/dev/null || log "warning: no nvidia-smi: building anyway"
    log "building the CUDA library variant and the jars (architectures $archs)"
    ./mvnw -B -q -Pcuda -Dbloom4j.cuda.architectures="${archs//;/,}" ${BLOOM_CUBLAS_ROOT:+-Dbloom4j.cublas.root="$BLOOM_CUBLAS_ROOT"} \
        -DskipTests package
    log "building llama.cpp's llama-bench for CUDA from the pinned tree"
    # The pinned tree, which the Maven build above fetched into the cache (cmake -P cmake/fetch-llama.cpp.cmake
    # fetches it alone).
    local commit src
    commit=$(sed -n 's/^ *set(BLOOM_GGML_COMMIT "\([0-9a-f]*\)")/\1/p' cmake/fetch-llama.cpp.cmake | head -n 1)
    src=${BLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bloom4j}/llama.cpp-$commit
    [[ -d $src ]] || cmake -P cmake/fetch-llama.cpp.cmake >&2
    [[ -d $src ]] || die "no pinned llama.cpp tree at $src"
    cmake -S "$src" -B "$work/llama-cuda" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="$archs" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF >&2
    cmake --build "$work/llama-cuda" --target llama-bench -j "$(nproc)" >&2
}

make_models() {
    IFS=, read -ra ms <<< "$models"
    IFS=, read -ra ts <<< "$types"
    for m in "${ms[@]}"; do
        if [[ ! -f $work/$m/config.json ]]; then
            log "writing a random-weight $m checkpoint (bf16)"
            rm -rf "$work/$m.tmp"
            ./bloom init-random --config "$m" --out "$work/$m.tmp" --dtype bf16 --seed 1 >&2
            mv "$work/$m.tmp" "$work/$m"
        fi
        for t in "${ts[@]}"; do
            [[ -f $work/$m-$t.gguf ]] && continue
            log "converting $m to $t"
            ./bloom convert --model "$work/$m" --out "$work/$m-$t.gguf.tmp" --type "$t" >&2
            mv "$work/$m-$t.gguf.tmp" "$work/$m-$t.gguf"
        done
    done
}

measure() {
    command -v nvidia-smi >/dev/null || die "no nvidia-smi: this step measures a GPU"
    local out=benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M)
    mkdir -p "$out"
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
        echo "commit: $(git rev-parse HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
        echo "command: benchmarks/scripts/gpu-run.sh measure (models $models, types $types, architectures $archs)"
    } > "$out/machine.txt"
    ./bloom devices --json > "$out/devices.json"
    grep -q '"type": *"gpu"' "$out/devices.json" || die "bloom devices lists no GPU (see $out/devices.json): is the cuda variant in the jar and the driver loaded?"
    log "reference GEMM ([2048 x 4096] x [4096 x 12288] bf16) and 1 GiB copy"
    "${java[@]}" -cp benchmarks/target/benchmarks.jar dev.bloom4j.benchmarks.DeviceReference --reps 20 \
        > "$out/reference.json"
    IFS=, read -ra ms <<< "$models"
    IFS=, read -ra ts <<< "$types"
    for m in "${ms[@]}"; do
        for t in "${ts[@]}"; do
            local gguf=$work/$m-$t.gguf
            [[ -f $gguf ]] || { log "skipping $m $t: no $gguf (run the models step)"; continue; }
            log "JMH: $m $t"
            "${java[@]}" -jar benchmarks/target/benchmarks.jar InferenceBenchmark -p model="$gguf" -p gpuLayers=-1 \
                -p promptTokens=128,512,2048 -p context=128,2048 -wi 1 -w 3 -i 3 -r 3 \
                -rf json -rff "$out/jmh-$m-$t.json" > "$out/jmh-$m-$t.log" 2>&1
            log "llama-bench: $m $t"
            "$work/llama-cuda/bin/llama-bench" -m "$gguf" -ngl 99 -fa 1 -p 128,512,2048 -n 128 -d 0,128,2048 -r 3 -o json \
                > "$out/llama-bench-$m-$t.json" 2> "$out/llama-bench-$m-$t.log" || log "llama-bench failed on $m $t"
        done
    done
    python3 benchmarks/scripts/gpu-summary.py "$out" --peak-tflops "$peak_tflops" --peak-gbps "$peak_gbps" \
        > "$out/summary.md"
    log "wrote $out"
}

case $step in
    build) build ;;
    models) make_models ;;
    measure) measure ;;
    all) build; make_models; measure ;;
    *) die "usage: gpu-run.sh build|models|measure|all" ;;
esac
