#!/usr/bin/env bash
# CPU speed of bloom4j against llama.cpp's llama-bench, in one run, on the same GGUF files and thread count:
# llama-bench's pp512 and tg128, then the same measurement through bloom4j's Java API
# (dev.bloom4j.benchmarks.LlamaBenchCompatible, which follows llama-bench's definitions) and through its C API
# (benchmarks/native/llama-bench-compatible.cpp, to show what the Java layer costs), for each model shape and weight
# type; then a Markdown and a JSON table in benchmarks/results/.
#
#   benchmarks/scripts/compare-llama-bench.sh [--models bloom-560m,bloom-1b7] [--types f16,q8_0,q4_0]
#                                             [--threads N] [--reps N] [--out PREFIX] [--models-dir DIR]
#
# The models are random-weight checkpoints in real BLOOM shapes (no weights can be downloaded here), written by
# `bloom init-random` and converted with `bloom convert --type T`; they are kept in --models-dir and reused. Random
# weights do not change the speed of dense matmuls. Disk: bloom-560m needs ~4 GB, bloom-1b7 ~10 GB.
#
# Needs (each is checked first; a missing one stops the script with what to do):
#   - a JDK 23+ ($JAVA_HOME, else the newest under /usr/lib/jvm), and this checkout's Maven build, which the
#     script runs (./mvnw package of benchmarks and cli, incremental) unless --no-build;
#   - llama-bench: $LLAMA_BENCH, else built from the pinned llama.cpp the way its users build it from source: CMake's
#     defaults (GGML_NATIVE=ON, i.e. -march=native), Release (cached, a few minutes the first time). Where that
#     build fails a first tiny run (AMX instructions a VM reports but faults on, say), it is built again with the
#     defaults plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16, and the table says so;
#   - the `bloom init-random` and `bloom convert` commands (./bloom);
#   - g++ for the C harness (benchmarks/scripts/build-native-harness.sh);
#   - awk, df, nproc, /proc/cpuinfo, /proc/loadavg, /proc/stat, /usr/bin/time.
#
# Options:
#   --models LIST     model shapes (default bloom-560m): bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, bloom-7b1
#   --types LIST      GGUF weight types (default f16,bf16,q8_0,q4_0,q4_k_m)
#   --threads N       threads for both tools (default: nproc)
#   --reps N          timed repetitions per test for both tools (default 5, llama-bench's default)
#   --out PREFIX      result files PREFIX.md and PREFIX.json
#                     (default benchmarks/results/llama-bench-cpu-<UTC date and time>)
#   --models-dir DIR  where the random checkpoints and GGUF files live
#                     (default $BLOOM_CACHE_DIR/bench-models, else ~/.cache/bloom4j/bench-models)
#   --no-build        use benchmarks/target/benchmarks.jar and cli/target/bloom.jar as they are
#   --quiet CORES     before each tool's run, wait until other processes keep less than CORES cores busy over 5 s
#                     (default 0.15; 0 = do not wait), for at most --max-wait minutes (default 20), then run anyway
#   --max-others C    rerun a tool's measurement (up to --attempts times, default 3) when other processes kept more
#                     than C cores busy on average while it ran (default 0.1: one disturbed repetition out of
#                     five already shows at 0.15)
#
# The machine may be shared: two spinning ggml threads on two cores lose far more than their share when a third
# process runs (a thread that waits at a barrier for a descheduled one burns its slice). So besides the load
# average, the table records "others": the cores other processes kept busy while each tool ran (busy time from
# /proc/stat minus the tool's own user+sys time, over the wall time). Published figures should have others near 0.
set -euo pipefail
# The whole script is one block, parsed before it runs: a long measurement is not derailed by an edit to this file.
{
self=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$self")/../.." && pwd)
cd "$repo"
command_line="benchmarks/scripts/compare-llama-bench.sh${*:+ $*}"

log() { echo "compare-llama-bench: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench-common.sh
source "$repo/benchmarks/scripts/bench-common.sh"

models=bloom-560m
types=f16,bf16,q8_0,q4_0,q4_k_m
threads=$(nproc)
reps=5
out=""
models_dir="$(bench_cache_dir)/bench-models"
build=1
quiet=0.15
max_wait=20
max_others=0.1
attempts=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --models) models=${2:?--models needs a value}; shift 2 ;;
        --types) types=${2:?--types needs a value}; shift 2 ;;
        --threads) threads=${2:?--threads needs a value}; shift 2 ;;
        --reps) reps=${2:?--reps needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --models-dir) models_dir=${2:?--models-dir needs a value}; shift 2 ;;
        --no-build) build=0; shift ;;
        --quiet) quiet=${2:?--quiet needs a value}; shift 2 ;;
        --max-wait) max_wait=${2:?--max-wait needs a value}; shift 2 ;;
        --max-others) max_others=${2:?--max-others needs a value}; shift 2 ;;
        --attempts) attempts=${2:?--attempts needs a value}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer, got '$reps'"
bench_check_quiet_settings
stamp=$(date -u +%Y%m%d-%H%M)
out=${out:-benchmarks/results/llama-bench-cpu-$stamp}

# ------------------------------------------------------------------ shapes
IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a type_list <<< "$types"
for m in "${model_list[@]}"; do
    [[ -n ${bench_shape_disk_gb[$m]:-} ]] || die "unknown model shape '$m' (known: ${!bench_shape_disk_gb[*]})"
done
for t in "${type_list[@]}"; do
    [[ $t =~ $bench_types_pattern ]] || die "unsupported --types entry '$t'"
done

# ------------------------------------------------------------------ dependencies
bench_check_tools
bench_find_java

if [[ $build == 1 ]]; then
    log "building bloom4j (./mvnw package -pl benchmarks,cli -am, tests skipped)"
    ./mvnw -B -q package -pl benchmarks,cli -am -DskipTests >&2 || die "the Maven build failed"
fi
bench_jar=$repo/benchmarks/target/benchmarks.jar
bloom_jar=$repo/cli/target/bloom.jar
[[ -f $bench_jar ]] || die "$bench_jar is missing (run without --no-build)"
[[ -f $bloom_jar ]] || die "$bloom_jar is missing (run without --no-build)"
bloom() { "$java" --enable-native-access=ALL-UNNAMED -jar "$bloom_jar" "$@"; }
harness=$(bash benchmarks/scripts/build-native-harness.sh) || die "cannot build the C harness (see above)"
for sub in init-random convert; do
    bloom "$sub" --help >/dev/null 2>&1 || die "this bloom4j has no 'bloom $sub' command, which makes the models"
done

mkdir -p "$(dirname "$out")"

# ------------------------------------------------------------------ models
bench_make_models "$models_dir" "$models" "$types"
gguf_of() { bench_gguf "$models_dir" "$1" "$2"; }
raw=$(mktemp -d "${TMPDIR:-/tmp}/compare-llama-bench.XXXXXX")
trap 'rm -rf "$raw"' EXIT

# ------------------------------------------------------------------ llama.cpp
# A first tiny run on every model file: a build that cannot run here fails now, not in the middle of the table.
# On failure smoke_failure says how.
llama_runs_here() {
    local m t status
    for m in "${model_list[@]}"; do
        for t in "${type_list[@]}"; do
            status=0
            "$1" -m "$(gguf_of "$m" "$t")" -p 8 -n 2 -r 1 -t "$threads" > "$raw/smoke.out" 2> "$raw/smoke.err" \
                || status=$?
            if (( status != 0 )); then
                smoke_failure="on $m $t: exit status $status"
                (( status > 128 )) && smoke_failure+=" (signal $((status - 128)): $(kill -l $((status - 128))))"
                return 1
            fi
        done
    done
}
llama_build="CMake defaults (GGML_NATIVE=ON, -march=native), Release"
if [[ -n ${LLAMA_BENCH:-} ]]; then
    llama_build="given as LLAMA_BENCH=$LLAMA_BENCH"
    [[ -x $LLAMA_BENCH ]] || die "llama-bench not found or not executable: $LLAMA_BENCH"
else
    bin=$(bench_build_llama_defaults llama-bench) || exit 1
    LLAMA_BENCH=$bin/llama-bench
    if ! llama_runs_here "$LLAMA_BENCH"; then
        log "llama.cpp built with its defaults fails on this machine, $smoke_failure"
        log "building it again with the defaults plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        bin=$(BENCH_LLAMA_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" BENCH_LLAMA_TAG=noamx \
            bench_build_llama_defaults llama-bench) || exit 1
        LLAMA_BENCH=$bin/llama-bench
        llama_build="CMake defaults (GGML_NATIVE=ON, -march=native), Release, plus -mno-amx-tile -mno-amx-int8 \
-mno-amx-bf16: the default build failed here in a first tiny run, $smoke_failure"
    fi
fi
llama_runs_here "$LLAMA_BENCH" || die "llama-bench fails on this machine, $smoke_failure"

# ------------------------------------------------------------------ measurement
load1() { bench_load1; }
measure() { bench_measure "$@"; }

runs=$raw/runs.tsv
: > "$runs"
for m in "${model_list[@]}"; do
    for t in "${type_list[@]}"; do
        gguf=$(gguf_of "$m" "$t")
        before=$(load1)
        llama_others=$(measure "$m $t: llama-bench" "$raw/$m-$t.llama.json" "$LLAMA_BENCH" -m "$gguf" \
            -t "$threads" -p 512 -n 128 -r "$reps" -o json)
        bloom_others=$(measure "$m $t: bloom4j (Java)" "$raw/$m-$t.bloom4j.json" "$java" \
            --enable-native-access=ALL-UNNAMED -cp "$bench_jar" dev.bloom4j.benchmarks.LlamaBenchCompatible \
            -m "$gguf" -t "$threads" -p 512 -n 128 -r "$reps")
        c_others=$(measure "$m $t: bloom4j (C)" "$raw/$m-$t.c.json" "$harness" -m "$gguf" -t "$threads" -p 512 \
            -n 128 -r "$reps")
        after=$(load1)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$t" "$threads" "$before" "$after" \
            "$llama_others" "$bloom_others" "$c_others" "$raw/$m-$t.llama.json" "$raw/$m-$t.bloom4j.json" \
            "$raw/$m-$t.c.json" >> "$runs"
    done
done

# ------------------------------------------------------------------ report
cpu=$(bench_cpu_model)
commit=$(bench_commit)
flags=$(bench_cpu_flags)
first_bloom_json=$(awk -F '\t' 'NR == 1 { print $10 }' "$runs")
bloom_variant=$(sed -n 's/.*"library_variant" *: *"\([^"]*\)".*/\1/p' "$first_bloom_json" | head -n 1)
# What each harness says it loaded (bloom_version_string: "... cpu <variant>: <instruction sets>)"): the Java/C
# column means something only when the two are the same library.
cpu_of() { sed -n 's/.*"bloom4j_version" *: *"[^"]*, cpu \([^)"]*\))".*/\1/p' "$1" | head -n 1; }
java_cpu=$(cpu_of "$first_bloom_json")
c_cpu=$(cpu_of "$(awk -F '\t' 'NR == 1 { print $11 }' "$runs")")
if [[ $java_cpu == "$c_cpu" ]]; then
    bloom_library="$bloom_variant ($java_cpu), the same in the Java and the C harness"
else
    log "warning: the Java and the C harness loaded different libraries: '$java_cpu' and '$c_cpu'"
    bloom_library="Java: $bloom_variant ($java_cpu); C: $c_cpu (DIFFERENT libraries: the Java / C column compares them)"
fi
# The pin (cmake/fetch-llama.cpp.cmake, formerly cmake/ggml.cmake) and what llama-bench itself says it was built from.
llama_commit=$(bench_llama_commit)
first_llama_json=$(awk -F '\t' 'NR == 1 { print $9 }' "$runs")
llama_reported=$(sed -n 's/.*"build_commit": *"\([^"]*\)".*/\1/p' "$first_llama_json" | head -n 1)
"$java" -cp "$bench_jar" dev.bloom4j.benchmarks.LlamaBenchReport --runs "$runs" \
    --meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --meta "machine=$cpu, $(nproc) cores, $(bench_memory), $(uname -sr); \
CPU flags include: $flags; bloom4j's library: $bloom_library; llama.cpp's build: $llama_build" \
    --meta "bloom4j commit=$commit" \
    --meta "llama.cpp commit=${llama_commit:-unknown} (llama-bench reports build ${llama_reported:-unknown}: $LLAMA_BENCH)" \
    --meta "java=$("$java" -version 2>&1 | head -n 1)" \
    --meta "threads=$threads, repetitions=$reps, quiet=$quiet cores, max others=$max_others cores, attempts=$attempts" \
    --meta "models=random weights in real BLOOM shapes (bloom init-random), converted with bloom convert" \
    --meta "command=$command_line" \
    --markdown "$out.md" --json "$out.json"
log "wrote $out.md and $out.json"
exit 0
}
