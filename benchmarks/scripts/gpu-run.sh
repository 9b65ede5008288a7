#!/usr/bin/env bash
# Issue 4's GPU measurements, as one command per step on a machine with an NVIDIA GPU (the device machines give a
# command at most 10 minutes, so the work is cut into steps that each fit and reuse what the previous ones left):
#
#   benchmarks/scripts/gpu-run.sh build        # CUDA libbloom (-Pcuda: the bloom4j-natives-cuda jar) and the jars
#   benchmarks/scripts/gpu-run.sh build-llama  # llama.cpp's llama-bench for CUDA, from the pinned tree
#   benchmarks/scripts/gpu-run.sh models       # random-weight checkpoints -> GGUF per type (checkpoints then removed)
#   benchmarks/scripts/gpu-run.sh measure      # reference GEMM/copy, JMH, llama-bench, Java vs C, FFM downcall
#   benchmarks/scripts/gpu-run.sh logits       # GPU vs CPU logits: BloomModelTest's GPU test, and each bf16 model
#   benchmarks/scripts/gpu-run.sh all          # build, build-llama, models, logits, measure in order
#   benchmarks/scripts/gpu-run.sh headline     # build, models, logits, measure for bloom-7b1 bf16 only (prefill 512
#                                              # and 2048, decode at 128 and 2048): the figures that fit a short lease
#   benchmarks/scripts/gpu-run.sh llama        # models + llama-bench alone, on headline's models and tests (no JDK):
#                                              # the llama.cpp columns, as a second short call (gpu-bundle.sh)
#   benchmarks/scripts/gpu-run.sh check        # models + measure on this CPU with tiny sizes: tests the script
#
# On a machine whose time is counted (a lent GPU machine), build everything elsewhere and bring it: the CUDA
# library from ci/build-cuda.sh (BLOOM_CUDA_LIB), the jars (./mvnw -DskipTests package; `touch cli/target/bloom.jar`
# there, or ./bloom rebuilds it when the copied sources look newer), llama-bench (LLAMA_BENCH), a JUnit console
# launcher (JUNIT_CONSOLE_JAR) and, instead of writing and converting a checkpoint there, GGUF headers
# (gguf-random.py header) that the models step fills with random weights on the GPU in seconds.
#
# Models: BLOOM_GPU_MODELS, comma-separated, each a released shape (bloom-560m ... bloom-7b1, bloom = 176B) or
# SHAPE:N, the shape cut to its first N blocks (init-random --layers N). Whole models get prefill (128/512/2048
# tokens) and decode (context 128 and 2048); a cut shape, prefill only: bloom:2, two bloom-176B blocks, gives the
# TFLOP/s of that layer shape (its lm_head runs on the last prompt token only, <0.1 % of a 2048-token prefill's
# FLOPs; two blocks, since the last block's MLP runs for the output token only, as in llama.cpp).
#
# Results: benchmarks/results/gpu-<UTC date-time>/ with reference.json (DeviceReference: GEMM TFLOP/s and copy
# GB/s on this GPU), jmh-<model>-<type>.json (InferenceBenchmark: prefill tokens/s and GFLOP/s, decode tokens/s and
# GB/s), llama-bench-<model>-<type>.json, harness-java.json / harness-c.json (pp512/tg128 of the first model and type
# through the Java API and through the C harness, same library, same run), downcall.json (DowncallBenchmark: one
# session call with its FFM downcall), machine.txt (nvidia-smi's GPU name, driver, memory; CPU; date; commit; the
# command), logits-test.log and logits-<model>.json (the logits step), summary.md and summary.json (MFU
# against the datasheet peak and the same-run GEMM, MBU against PEAK_GBPS and the same-run copy, bloom4j / llama.cpp
# and Java / C ratios, the logits checks).
#
# Environment: BLOOM_CUDA_ARCHITECTURES (default 90: H100/H200), BLOOM_CUDA_LIB (a CUDA libbloom.so built elsewhere:
# no build step, every Java process loads it through BLOOM4J_LIBRARY_PATH), LLAMA_BENCH (a llama-bench built for
# CUDA elsewhere; default: build-llama's), BLOOM_COMMIT (the commit machine.txt records, where the tree was copied
# without .git), JUNIT_CONSOLE_JAR (junit-platform-console-standalone: the logits step runs
# BloomModelTest's GPU test with it instead of Maven), BLOOM_GPU_MODELS (default
# bloom-560m,bloom-1b7,bloom:2,bloom-7b1, in that order for the disk), BLOOM_GPU_TYPES (default bf16,q8_0,q4_0; f16 runs the same kernels as
# bf16 on sm_90, add it if wanted), BLOOM_GPU_CUT_TYPES (types of cut shapes, default bf16), BLOOM_CUBLAS_ROOT (a
# cuBLAS outside the toolkit, see README), BLOOM_GPU_WORK (default ~/.cache/bloom4j/gpu-run: models and the
# llama.cpp CUDA build), BLOOM_GPU_KEEP_CHECKPOINTS=1 (keep the safetensors checkpoints), PEAK_TFLOPS (default 989,
# H100/H200 SXM dense bf16), PEAK_GBPS (default 4800, H200; 3350 for an H100 SXM), BLOOM_GPU_PROMPTS and
# BLOOM_GPU_CONTEXTS (prefill lengths and decode contexts of whole models, default 128,512,2048 and 128,2048).
# A file $work/<label>-<type>.header or $BLOOM_GPU_HEADERS/<label>-<type>.header (f32/f16/bf16, from
# `gguf-random.py header`) is filled with random weights instead of running init-random and convert.
# Disk: the defaults end at ~51 GB of GGUF files (bloom-7b1 26 GB, bloom:2 17 GB) and peak ~54 GB while bloom-7b1's
# checkpoint is converted; the models step checks the free space before each model and says what it needs.
# Needs: nvidia-smi, nvcc (CUDA 12+/13), cmake, g++, a JDK 23+ ($JAVA_HOME or /usr/lib/jvm), python3 (standard
# library only) for the summary and its chart.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
cd "$repo"
step=${1:-}
archs=${BLOOM_CUDA_ARCHITECTURES:-90}
models=${BLOOM_GPU_MODELS:-bloom-560m,bloom-1b7,bloom:2,bloom-7b1}
types=${BLOOM_GPU_TYPES:-bf16,q8_0,q4_0}
cut_types=${BLOOM_GPU_CUT_TYPES:-bf16}
work=${BLOOM_GPU_WORK:-$HOME/.cache/bloom4j/gpu-run}
peak_tflops=${PEAK_TFLOPS:-989}
peak_gbps=${PEAK_GBPS:-4800}
headers=${BLOOM_GPU_HEADERS:-}

log() { echo "gpu-run: $*" >&2; }
die() { log "error: $*"; exit 1; }
# A failed measurement: said now, the remaining ones still run, and the script exits 1 at the end.
failures=0
failed() { log "error: $*"; failures=$((failures + 1)); }

# The result directory, made once per run, into $out (BLOOM_GPU_OUT: add to an earlier run's directory).
out=""
out_dir() {
    export BLOOM_GPU_OUT=${BLOOM_GPU_OUT:-benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M)}
    out=$BLOOM_GPU_OUT
    mkdir -p "$out"
}

if [[ -z ${JAVA_HOME:-} ]]; then
    JAVA_HOME=$(ls -d /usr/lib/jvm/*25* /usr/lib/jvm/*24* /usr/lib/jvm/*23* 2>/dev/null | head -n 1 || true)
fi
# The llama step runs no Java (a machine given only llama-bench and GGUF headers, gpu-bundle.sh pack-llama).
[[ $step == llama || ( -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ) ]] || die "no JDK 23+ found: set JAVA_HOME"
export JAVA_HOME
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED)
mkdir -p "$work"

# Every Java process of a GPU step loads the CUDA library by path (BLOOM4J_LIBRARY_PATH): benchmarks.jar does not
# carry the bloom4j-natives-cuda jar, and a path leaves no doubt about which library ran.
cuda_lib=natives-cuda/target/classes/native/linux-x86_64/cuda/libbloom.so
if [[ -n ${BLOOM_CUDA_LIB:-} ]]; then
    [[ -f $BLOOM_CUDA_LIB ]] || die "BLOOM_CUDA_LIB=$BLOOM_CUDA_LIB: no such file"
    cuda_lib=$(readlink -f "$BLOOM_CUDA_LIB")
    export BLOOM4J_LIBRARY_PATH=$cuda_lib
elif [[ $step != check && -f $cuda_lib ]]; then
    export BLOOM4J_LIBRARY_PATH=$(readlink -f "$cuda_lib")
fi

build() {
    [[ -z ${BLOOM_CUDA_LIB:-} ]] || { log "BLOOM_CUDA_LIB is set: nothing to build"; return 0; }
    command -v nvidia-smi >/dev/null || log "warning: no nvidia-smi: building anyway"
    log "building the CUDA library variant and the jars (architectures $archs)"
    ./mvnw -B -q -Pcuda -Dbloom4j.cuda.architectures="${archs//;/,}" ${BLOOM_CUBLAS_ROOT:+-Dbloom4j.cublas.root="$BLOOM_CUBLAS_ROOT"} \
        -DskipTests package
    [[ -f $cuda_lib ]] || die "the build made no $cuda_lib"
    export BLOOM4J_LIBRARY_PATH=$(readlink -f "$cuda_lib")
}

build_llama() {
    log "building llama.cpp's llama-bench for CUDA from the pinned tree"
    # The pinned tree: fetch-llama.cpp.cmake fetches it if the cache lacks it and prints its path last.
    local src
    src=$(cmake -P cmake/fetch-llama.cpp.cmake | tail -n 1)
    [[ -d $src ]] || die "no pinned llama.cpp tree at '$src'"
    # As llama.cpp's users build it (CMake defaults: GGML_NATIVE, the VMM memory pool, OpenMP), as one file (llama and
    # ggml linked in statically) so that gpu-bundle.sh can carry it. On a machine without an NVIDIA driver the build
    # is for another machine, so two things differ: the CPU code targets x86-64-v3 instead of -march=native (the GPU
    # machine's CPU is not this one; with every layer on the GPU it runs little), and the driver functions ggml-cuda
    # calls link against a stub (benchmarks/native/libcuda-link-stub.c; the GPU machine's libcuda.so.1 answers them).
    local extra=() lib stub found options isa
    if [[ -n ${BLOOM_CUBLAS_ROOT:-} ]]; then
        for lib in cublas cublasLt; do
            found=$(ls "$BLOOM_CUBLAS_ROOT"/lib*/lib$lib.so* 2>/dev/null | head -n 1)
            [[ -n $found ]] || die "BLOOM_CUBLAS_ROOT=$BLOOM_CUBLAS_ROOT has no lib/lib$lib.so*"
            extra+=(-DCUDA_${lib}_LIBRARY="$found")
        done
        extra+=(-DCMAKE_CUDA_FLAGS="-I$BLOOM_CUBLAS_ROOT/include")
    fi
    if ! nvidia-smi -L >/dev/null 2>&1; then
        log "no NVIDIA driver here: x86-64-v3 CPU code, libcuda.so.1 linked against benchmarks/native/libcuda-link-stub.c"
        stub=$work/libcuda-link-stub
        mkdir -p "$stub"
        # nvcc: it knows where the toolkit's cuda.h is; --cudart none: the stub needs no CUDA runtime.
        nvcc --cudart none -shared -Xcompiler -fPIC -Xlinker -soname=libcuda.so.1 -o "$stub/libcuda.so" \
            benchmarks/native/libcuda-link-stub.c
        options=$(cmake -DBLOOM_GGML_OPTIONS_OF=x86-64-v3 -P cmake/cpu-variants.cmake)
        read -ra isa <<< "$options"
        extra+=(-DCUDA_cuda_driver_LIBRARY="$stub/libcuda.so" -DGGML_NATIVE=OFF "${isa[@]}")
    fi
    cmake -S "$src" -B "$work/llama-cuda" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_CUDA_ARCHITECTURES="$archs" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF "${extra[@]}" >&2
    cmake --build "$work/llama-cuda" --target llama-bench -j "$(nproc)" >&2
    log "llama-bench: $work/llama-cuda/bin/llama-bench ($(du -h "$work/llama-cuda/bin/llama-bench" | cut -f1)); needs:"
    readelf -d "$work/llama-cuda/bin/llama-bench" | grep NEEDED >&2
}

# A model entry's file label: bloom-7b1, or bloom-L2 for bloom:2.
label_of() { [[ $1 == *:* ]] && echo "${1%%:*}-L${1##*:}" || echo "$1"; }
types_of() { [[ $1 == *:* ]] && echo "$cut_types" || echo "$types"; }

# Parameters of a released shape (cut to N blocks): vocabulary x hidden + blocks x (12 h^2 + 13 h) + 4 h.
params_of() {
    local name=${1%%:*} cut="" h l
    [[ $1 == *:* ]] && cut=${1##*:}
    case $name in
        bloom-560m) h=1024 l=24 ;; bloom-1b1) h=1536 l=24 ;; bloom-1b7) h=2048 l=24 ;;
        bloom-3b) h=2560 l=30 ;; bloom-7b1) h=4096 l=30 ;; bloom|bloom-176b) h=14336 l=70 ;;
        *) die "unknown model shape $name (bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, bloom-7b1, bloom)" ;;
    esac
    [[ -n $cut ]] && l=$cut
    echo $(( 250880 * h + l * (12 * h * h + 13 * h) + 4 * h ))
}

make_models() {
    IFS=, read -ra ms <<< "$models"
    for m in "${ms[@]}"; do
        local label ck bf16 ts missing=() t
        label=$(label_of "$m")
        ck=$work/$label
        bf16=$work/$label-bf16.gguf
        IFS=, read -ra ts <<< "$(types_of "$m")"
        for t in "${ts[@]}"; do [[ -f $work/$label-$t.gguf ]] || missing+=("$t"); done
        [[ ${#missing[@]} -eq 0 ]] && continue
        # A GGUF header of this model and type: random weights drawn straight into the GGUF (seconds, not minutes).
        local left=() header
        for t in "${missing[@]}"; do
            header=$work/$label-$t.header
            [[ -f $header || -z $headers ]] || header=$headers/$label-$t.header
            if [[ -f $header ]]; then
                log "filling $header with random weights"
                python3 benchmarks/scripts/gguf-random.py fill "$header" "$work/$label-$t.gguf.tmp" >&2
                mv "$work/$label-$t.gguf.tmp" "$work/$label-$t.gguf"
            else
                left+=("$t")
            fi
        done
        [[ ${#left[@]} -eq 0 ]] && continue
        missing=("${left[@]}")
        # The peak still to write, bytes per parameter: the bf16 checkpoint and bf16 GGUF together (2 + 2, the
        # checkpoint is deleted before quantizing), or the bf16 GGUF and the quantized types (q8_0 1.07, q4_0 0.57,
        # f16 2, others <= 1.07), whichever is larger; what already exists is not counted.
        local params need free t100=0 first100=0 second100
        params=$(params_of "$m")
        [[ -f $bf16 ]] || first100=$(( $([[ -f $ck/config.json ]] && echo 0 || echo 200) + 200 ))
        for t in "${missing[@]}"; do
            case $t in bf16) ;; f16) t100=$((t100 + 200)) ;; q4_0|q4_1|q4_k*|iq4*) t100=$((t100 + 57)) ;; *) t100=$((t100 + 107)) ;; esac
        done
        second100=$(( $([[ -f $bf16 ]] && echo 0 || echo 200) + t100 ))
        need=$(( params * (first100 > second100 ? first100 : second100) / 100 / 1000000000 + 1 ))
        free=$(( $(df -Pk "$work" | awk 'NR == 2 { print $4 }') / 1000000 ))
        (( free >= need )) || die "$m: about $need GB of disk needed in $work, $free GB free (BLOOM_GPU_WORK elsewhere, fewer BLOOM_GPU_TYPES or BLOOM_GPU_MODELS)"
        if [[ ! -f $bf16 ]]; then
            if [[ ! -f $ck/config.json ]]; then
                log "writing a random-weight $m checkpoint (bf16, $(( params / 1000000 ))M parameters)"
                rm -rf "$ck.tmp"
                local cut=()
                [[ $m == *:* ]] && cut=(--layers "${m##*:}")
                ./bloom init-random --config "${m%%:*}" "${cut[@]}" --out "$ck.tmp" --dtype bf16 --seed 1 >&2
                mv "$ck.tmp" "$ck"
            fi
            log "converting $m to bf16"
            ./bloom convert --model "$ck" --out "$bf16.tmp" --type bf16 >&2
            mv "$bf16.tmp" "$bf16"
        fi
        [[ -n ${BLOOM_GPU_KEEP_CHECKPOINTS:-} ]] || rm -rf "$ck"
        for t in "${missing[@]}"; do
            [[ $t == bf16 ]] && continue
            log "converting $m to $t (from the bf16 GGUF)"
            ./bloom convert --model "$bf16" --out "$work/$label-$t.gguf.tmp" --type "$t" >&2
            mv "$work/$label-$t.gguf.tmp" "$work/$label-$t.gguf"
        done
        [[ " ${ts[*]} " == *" bf16 "* ]] || rm -f "$bf16"  # only the source of the other types
    done
}

# The measurement settings; `check` shrinks them to run the whole measure step on a CPU in a minute or two.
# Prefill runs in graphs of 512 tokens (llama-bench's micro-batch: the comparison); for bf16 the longest prompt
# is also measured as one graph (big_batch: the MFU a GPU reaches with larger products), into jmhbig-*.json.
pp_whole=${BLOOM_GPU_PROMPTS:-128,512,2048} contexts=${BLOOM_GPU_CONTEXTS:-128,2048} pp_cut=512,2048 big_batch=2048 jmh_iters=(-wi 1 -w 3 -i 3 -r 3)
reference_args=(--reps 20)
harness_args=(-p 512 -n 128 -r 5) llama_reps=3 downcall_iters=(-wi 2 -w 1 -i 5 -r 1)
llama_bench=${LLAMA_BENCH:-$work/llama-cuda/bin/llama-bench}
checking=""

measure() {
    if [[ -z $checking ]]; then
        command -v nvidia-smi >/dev/null || die "no nvidia-smi: this step measures a GPU"
    fi
    out_dir
    machine "measure (models $models, types $types, cut types $cut_types, architectures $archs)"
    ./bloom devices --json > "$out/devices.json"
    [[ -n $checking ]] || grep -q '"type": *"gpu"' "$out/devices.json" || die "bloom devices lists no GPU (see $out/devices.json): is BLOOM4J_LIBRARY_PATH the CUDA library and the driver loaded?"
    if [[ ! -f $out/reference.json ]]; then
        log "reference GEMM and copy (${reference_args[*]})"
        "${java[@]}" -cp benchmarks/target/benchmarks.jar dev.bloom4j.benchmarks.DeviceReference "${reference_args[@]}" \
            > "$out/reference.json"
    fi
    [[ -x $llama_bench ]] || log "no llama-bench at $llama_bench: llama.cpp columns stay empty (run build-llama)"
    IFS=, read -ra ms <<< "$models"
    local first=""
    for m in "${ms[@]}"; do
        local label ts t
        label=$(label_of "$m")
        IFS=, read -ra ts <<< "$(types_of "$m")"
        for t in "${ts[@]}"; do
            local gguf=$work/$label-$t.gguf
            [[ -f $gguf ]] || { log "skipping $m $t: no $gguf (run the models step)"; continue; }
            [[ -n $first || $m == *:* ]] || first=$gguf
            if [[ $m == *:* ]]; then
                log "JMH: $m $t (prefill only)"
                "${java[@]}" -jar benchmarks/target/benchmarks.jar 'InferenceBenchmark.prefill' -p model="$gguf" \
                    -p gpuLayers=-1 -p promptTokens="$pp_cut" "${jmh_iters[@]}" \
                    -rf json -rff "$out/jmh-$label-$t.json" > "$out/jmh-$label-$t.log" 2>&1 \
                    || failed "JMH failed on $m $t: see $out/jmh-$label-$t.log"
                llama "$out" "$label-$t" "$gguf" -p "$pp_cut" -n 0
            else
                log "JMH: $m $t"
                "${java[@]}" -jar benchmarks/target/benchmarks.jar InferenceBenchmark -p model="$gguf" -p gpuLayers=-1 \
                    -p promptTokens="$pp_whole" -p context="$contexts" "${jmh_iters[@]}" \
                    -rf json -rff "$out/jmh-$label-$t.json" > "$out/jmh-$label-$t.log" 2>&1 \
                    || failed "JMH failed on $m $t: see $out/jmh-$label-$t.log"
                llama "$out" "$label-$t" "$gguf" -p "$pp_whole" -n 128 -d "0,$contexts"
            fi
            if [[ $t == bf16 || -n $checking ]]; then
                local longest=${pp_whole##*,}
                [[ $m == *:* ]] && longest=${pp_cut##*,}
                log "JMH: $m $t, prefill of $longest tokens as one graph"
                "${java[@]}" -jar benchmarks/target/benchmarks.jar 'InferenceBenchmark.prefill' -p model="$gguf" \
                    -p gpuLayers=-1 -p promptTokens="$longest" -p batch="$big_batch" "${jmh_iters[@]}" \
                    -rf json -rff "$out/jmhbig-$label-$t.json" > "$out/jmhbig-$label-$t.log" 2>&1 \
                    || failed "JMH failed on $m $t: see $out/jmhbig-$label-$t.log"
            fi
        done
    done
    if [[ -n $first && ! -f $out/harness-c.json ]]; then
        # The Java overhead: llama-bench's pp512/tg128 through the Java API and through the C harness, both on the
        # CUDA library (default n_gpu_layers: everything on the GPU), back to back.
        log "Java vs C: $first"
        # The C harness is rebuilt against the library the Java side loads (seconds): a harness left from another
        # run may be linked to another variant. `check` without BLOOM_CUDA_LIB: the CPU library the loader picks,
        # which build-native-harness.sh picks the same way.
        local lib="" harness
        local -a lib_env=()
        if [[ -z $checking || -n ${BLOOM_CUDA_LIB:-} ]]; then
            [[ -f $cuda_lib ]] || die "no library at $cuda_lib: run the build step"
            lib=$cuda_lib
            lib_env=(BLOOM4J_LIBRARY_PATH="$(readlink -f "$lib")")
        fi
        if harness=$(bash benchmarks/scripts/build-native-harness.sh ${lib:+"$lib"}); then
            env "${lib_env[@]}" "${java[@]}" -cp benchmarks/target/benchmarks.jar \
                dev.bloom4j.benchmarks.LlamaBenchCompatible -m "$first" "${harness_args[@]}" > "$out/harness-java.json" \
                || failed "the Java harness failed on $first"
            "$harness" -m "$first" "${harness_args[@]}" > "$out/harness-c.json" || failed "the C harness failed on $first"
        else
            failed "cannot build the C harness against ${lib:-the library of this machine}"
        fi
        log "FFM downcall cost (DowncallBenchmark)"
        "${java[@]}" -jar benchmarks/target/benchmarks.jar DowncallBenchmark -p model="$first" "${downcall_iters[@]}" \
            -rf json -rff "$out/downcall.json" > "$out/downcall.log" 2>&1 \
            || failed "DowncallBenchmark failed: see $out/downcall.log"
    fi
    python3 benchmarks/scripts/gpu-summary.py "$out" --peak-tflops "$peak_tflops" --peak-gbps "$peak_gbps" \
        > "$out/summary.md"
    log "wrote $out (add more models to it with BLOOM_GPU_OUT=$out)"
}

# GPU vs CPU logits, into DIR/logits-*: BloomModelTest's GPU test (tiny f32 model; it fails beyond 2e-3 of the range),
# then each whole model's bf16 GGUF in $work evaluated on 24 tokens with every layer on the CPU and on the GPU, the
# largest difference against the logits' range recorded (failing beyond 5 %, or on a non-finite value).
logits() {
    local jar=${JUNIT_CONSOLE_JAR:-}
    out_dir
    ./bloom devices --json > "$out/devices.json"
    [[ -n $checking ]] || grep -q '"type": *"gpu"' "$out/devices.json" || die "bloom devices lists no GPU (see $out/devices.json)"
    if [[ -z $jar ]]; then
        jar=$work/junit-platform-console-standalone.jar
        [[ -f $jar ]] || ./mvnw -B -q dependency:copy -N -DoutputDirectory="$work" -Dmdep.stripVersion=true \
            -Dartifact=org.junit.platform:junit-platform-console-standalone:"$(./mvnw -B -q -N help:evaluate \
                -Dexpression=junit.version -DforceStdout)" >&2 || die "cannot fetch the JUnit console launcher"
    fi
    [[ -d java-api/target/test-classes ]] || ./mvnw -B -q -pl java-api -am -Dbloom4j.skipNative test-compile >&2
    log "GPU vs CPU logits: BloomModelTest#onAGpuTheLogitsMatchTheCpuWithinF16Tolerance"
    if "${java[@]}" -jar "$jar" execute --disable-banner --disable-ansi-colors --details=tree \
        --class-path cli/target/bloom.jar:java-api/target/test-classes \
        --select-method 'dev.bloom4j.BloomModelTest#onAGpuTheLogitsMatchTheCpuWithinF16Tolerance' \
        > "$out/logits-test.log" 2>&1 && grep -q ' 1 tests successful' "$out/logits-test.log"; then
        log "passed"
    elif [[ -n $checking ]] && grep -q ' 1 tests aborted' "$out/logits-test.log"; then
        log "skipped (no GPU), as it should be here"
    else
        failed "BloomModelTest's GPU test did not pass: see $out/logits-test.log"
    fi
    # 24 tokens: under ggml-cuda's 32-row threshold for offloading a CPU-resident matrix product to the GPU, so the
    # CPU run computes on the CPU.
    local ids=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4 m label gguf
    IFS=, read -ra ms <<< "$models"
    for m in "${ms[@]}"; do
        label=$(label_of "$m")
        gguf=$work/$label-bf16.gguf
        [[ $m != *:* && -f $gguf ]] || continue
        log "GPU vs CPU logits: $m bf16, $(tr -cd , <<< "$ids" | wc -c) + 1 tokens"
        local cpu_json=$out/raw-logits-$label-cpu.tmp gpu_json=$out/raw-logits-$label-gpu.tmp
        if ! { ./bloom logits --model "$gguf" --ids "$ids" --gpu-layers 0 > "$cpu_json" &&
               ./bloom logits --model "$gguf" --ids "$ids" > "$gpu_json"; }; then
            failed "bloom logits failed on $gguf"
            rm -f "$cpu_json" "$gpu_json"
            continue
        fi
        python3 - "$cpu_json" "$gpu_json" > "$out/logits-$label.json" <<'PY' ||
import json, math, sys
cpu, gpu = (json.load(open(p))["logits"] for p in sys.argv[1:3])
finite = all(math.isfinite(x) for x in cpu + gpu)
span = max(abs(x) for x in cpu) if finite else float("nan")
error = max(abs(a - b) for a, b in zip(cpu, gpu)) if finite else float("nan")
finite = finite and span > 0  # all-zero logits say nothing either
top = lambda v: sorted(range(len(v)), key=v.__getitem__, reverse=True)[:10]
r = {"tokens": len(json.load(open(sys.argv[1]))["ids"]), "max_abs_error": error, "range": span,
     "relative_error": error / span if finite else None, "argmax_equal": top(cpu)[0] == top(gpu)[0],
     "top10_overlap": len(set(top(cpu)) & set(top(gpu))), "finite": finite}
print(json.dumps(r, indent=2))
sys.exit(0 if finite and error / span < 0.05 else 1)
PY
            failed "$m bf16: the GPU's logits differ from the CPU's: see $out/logits-$label.json"
        rm -f "$cpu_json" "$gpu_json"
    done
}

# What machine.txt records of a step's run: date, GPU, CPU, commit, and the step with its settings.
machine() {
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        if [[ -n $checking ]]; then
            echo "gpu: none: gpu-run.sh check (the measure step on the CPU with tiny sizes; no figure here means anything)"
        elif command -v nvidia-smi >/dev/null; then
            echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
        else
            echo "gpu: none found (no nvidia-smi)"
        fi
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
        echo "commit: ${BLOOM_COMMIT:-$(git rev-parse HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')}"
        echo "command: benchmarks/scripts/gpu-run.sh $1"
    } >> "$out/machine.txt"
}

# llama-bench on one GGUF file into DIR/llama-bench-NAME.json, with full offload and flash attention.
llama() {
    local out=$1 name=$2 gguf=$3
    shift 3
    [[ -x $llama_bench ]] || return 0
    log "llama-bench: $name"
    "$llama_bench" -m "$gguf" -ngl 99 -fa 1 "$@" -r "$llama_reps" -o json > "$out/llama-bench-$name.json" \
        2> "$out/llama-bench-$name.log" || log "llama-bench failed on $name: see $out/llama-bench-$name.log"
    # A llama-bench whose CUDA backend did not start (a driver too old for its runtime, say) runs on the CPU, and
    # its JSON still says "backends": "CUDA" (compiled in); only "gpu_info" (empty) and its log tell. Such figures
    # are kept aside, out of the summary's llama.cpp columns.
    [[ -z $checking ]] || return 0
    local gpus
    if ! gpus=$(python3 - "$out/llama-bench-$name.json" 2>&1 <<'PY'
import json, sys
try:
    rows = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"no JSON ({e.__class__.__name__})")
gpus = sorted({r.get("gpu_info", "") for r in rows})
print(", ".join(g or "none" for g in gpus) or "no rows")
sys.exit(0 if rows and "" not in gpus else 1)
PY
    ); then
        mv "$out/llama-bench-$name.json" "$out/llama-bench-$name.not-gpu.json" 2>/dev/null || true
        failed "llama-bench on $name gave no GPU figures (gpu_info: $gpus): see $out/llama-bench-$name.log"
    fi
}

case $step in
    build) build ;;
    build-llama) build_llama ;;
    models) make_models ;;
    measure) measure ;;
    logits) logits ;;
    all) build; build_llama; make_models; logits; measure ;;
    headline)
        models=${BLOOM_GPU_MODELS:-bloom-7b1} types=${BLOOM_GPU_TYPES:-bf16} pp_whole=${BLOOM_GPU_PROMPTS:-512,2048}
        build
        make_models
        logits
        measure
        ;;
    llama)
        # headline's llama-bench runs without the rest: for a machine that got llama-bench in a call of its own
        # (with the bloom4j bundle it is over a call's upload limit). Its llama-bench-*.json join headline's result
        # directory before gpu-summary.py runs again over it; each JSON names llama-bench's build and GPU.
        models=${BLOOM_GPU_MODELS:-bloom-7b1} types=${BLOOM_GPU_TYPES:-bf16} pp_whole=${BLOOM_GPU_PROMPTS:-512,2048}
        [[ -x $llama_bench ]] || die "no llama-bench at $llama_bench (LLAMA_BENCH, or run build-llama)"
        make_models
        out_dir
        machine "llama (models $models, types $types; $llama_bench)"
        IFS=, read -ra ms <<< "$models"
        for m in "${ms[@]}"; do
            label=$(label_of "$m")
            IFS=, read -ra ts <<< "$(types_of "$m")"
            for t in "${ts[@]}"; do
                if [[ $m == *:* ]]; then
                    llama "$out" "$label-$t" "$work/$label-$t.gguf" -p "$pp_cut" -n 0
                else
                    llama "$out" "$label-$t" "$work/$label-$t.gguf" -p "$pp_whole" -n 128 -d "0,$contexts"
                fi
            done
        done
        log "wrote $out"
        ;;
    check)
        # The models and measure steps on this CPU with tiny sizes, to find a broken step before GPU time is spent:
        # the default library variant, bloom-560m (whole) and one block of bloom-1b7 (cut), llama-bench from
        # $LLAMA_BENCH if set. Writes to ${TMPDIR:-/tmp}/bloom4j-gpu-check, never to benchmarks/results.
        checking=1
        work=${BLOOM_GPU_WORK:-${TMPDIR:-/tmp}/bloom4j-gpu-check/models}
        export BLOOM_GPU_OUT=${BLOOM_GPU_OUT:-${TMPDIR:-/tmp}/bloom4j-gpu-check/out-$(date -u +%Y%m%d-%H%M%S)}
        models=${BLOOM_GPU_MODELS:-bloom-560m,bloom-1b7:1}
        types=${BLOOM_GPU_TYPES:-q8_0} cut_types=${BLOOM_GPU_CUT_TYPES:-q4_0}
        llama_bench=${LLAMA_BENCH:-none}
        pp_whole=16,32 contexts=16,32 pp_cut=32 big_batch=32 jmh_iters=(-wi 0 -i 1 -r 1) downcall_iters=(-wi 0 -i 1 -r 1)
        reference_args=(--reps 1 --tokens 64 --k 256 --rows 256 --copy-bytes 16777216)
        harness_args=(-p 16 -n 4 -r 1) llama_reps=1
        mkdir -p "$work"
        make_models
        logits
        measure
        ;;
    *) die "usage: gpu-run.sh build|build-llama|models|measure|logits|all|headline|llama|check" ;;
esac
(( failures == 0 )) || die "$failures measurement(s) failed (see above)"

