#!/usr/bin/env bash
# Many sequences decoded together: llama.cpp's llama-batched-bench against `bloom batched-bench`, in one run, on the
# same GGUF files, with the same options (-npp, -ntg, -npl, -c, -b, -t); then a Markdown and a JSON table in
# benchmarks/results/: each tool's aggregate decode tokens/s (S_TG) per number of sequences, their ratio, and each
# tool's S_TG over its own at one sequence.
#
#   benchmarks/scripts/compare-batched-bench.sh [--models bloom-560m] [--types f16,q8_0,q4_0] [--npl 1,2,4,8,16]
#                                               [--npp 128] [--ntg 64] [--threads 2] [--out PREFIX] ...
#
# The models are random-weight checkpoints in real BLOOM shapes, written by `bloom init-random` and converted with
# `bloom convert --type T` into --models-dir, kept and reused (shared with compare-llama-bench.sh). Random weights
# do not change the speed of dense matmuls.
#
# llama.cpp is built as its users build it (house style, rule 27): the pinned source (cmake/fetch-llama.cpp.cmake),
# CMake's defaults, Release; that is GGML_NATIVE=ON, -march=native for this CPU. If that build dies on a signal
# in a first tiny run (seen on a VM whose CPU reports AMX: ggml's AMX kernels die at their first ldtilecfg), the
# script says so and builds again with the same defaults plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16, and the
# table's header records it. $LLAMA_BATCHED_BENCH skips the build and uses that program.
#
# Needs (each is checked first; a missing one stops the script with what to do):
#   - a JDK 23+ ($JAVA_HOME, else the newest under /usr/lib/jvm), and this checkout's Maven build, which the
#     script runs (./mvnw package of benchmarks and cli, incremental) unless --no-build;
#   - cmake, g++, flock, git and npm (the pinned llama.cpp source, fetched once into the bloom4j cache);
#   - awk, df, nproc, /proc/cpuinfo, /proc/loadavg, /proc/stat, /usr/bin/time.
#
# Options:
#   --models LIST     model shapes (default bloom-560m): bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, bloom-7b1
#   --types LIST      GGUF weight types (default f16,q8_0,q4_0)
#   --npp LIST        prompt lengths, -npp of both tools (default 128)
#   --ntg LIST        tokens decoded per sequence, -ntg (default 64)
#   --npl LIST        numbers of sequences decoded together, -npl (default 1,2,4,8,16)
#   --threads N       threads for both tools, -t (default 2)
#   --ctx N           KV cells, -c of both tools (default: what the largest row needs in bloom4j,
#                     B*(PP+TG+1), rounded up to a multiple of 256)
#   --batch N         -b of both tools (default 2048, llama-batched-bench's; bloom4j evaluates up to N tokens in
#                     one graph, llama.cpp in graphs of its -ub, 512)
#   --pps             the prompt shared by the sequences (-pps of both)
#   --fa MODE         -fa on|off|auto for both; default: neither gets -fa (each tool's own default)
#   --out PREFIX      result files PREFIX.md and PREFIX.json
#                     (default benchmarks/results/batched-bench-cpu-<UTC date and time>)
#   --models-dir DIR  where the random checkpoints and GGUF files live
#                     (default $BLOOM_CACHE_DIR/bench-models, else ~/.cache/bloom4j/bench-models)
#   --no-build        use cli/target/bloom.jar and benchmarks/target/benchmarks.jar as they are
#   --quiet CORES     before each tool's run, wait until other processes keep less than CORES cores busy over 5 s
#                     (default 0.15; 0 = do not wait), for at most --max-wait minutes (default 20), then run anyway
#   --max-others C    rerun a tool's measurement (up to --attempts times, default 3) when other processes kept more
#                     than C cores busy on average while it ran (default 0.1)
#
# A small first try (a few minutes, most of it the first llama.cpp build and the model conversion):
#   benchmarks/scripts/compare-batched-bench.sh --types q8_0 --npl 1,2 --ntg 16 --out /tmp/bb-try
set -euo pipefail
# The whole script is one block, parsed before it runs: a long measurement is not derailed by an edit to this file.
{
self=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$self")/../.." && pwd)
cd "$repo"
command_line="benchmarks/scripts/compare-batched-bench.sh${*:+ $*}"

log() { echo "compare-batched-bench: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench-common.sh
source "$repo/benchmarks/scripts/bench-common.sh"

models=bloom-560m
types=f16,q8_0,q4_0
npp=128
ntg=64
npl=1,2,4,8,16
threads=2
ctx=""
batch=2048
pps=0
fa=""
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
        --npp) npp=${2:?--npp needs a value}; shift 2 ;;
        --ntg) ntg=${2:?--ntg needs a value}; shift 2 ;;
        --npl) npl=${2:?--npl needs a value}; shift 2 ;;
        --threads) threads=${2:?--threads needs a value}; shift 2 ;;
        --ctx) ctx=${2:?--ctx needs a value}; shift 2 ;;
        --batch) batch=${2:?--batch needs a value}; shift 2 ;;
        --pps) pps=1; shift ;;
        --fa) fa=${2:?--fa needs a value}; shift 2 ;;
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
for list in "--npp:$npp" "--ntg:$ntg" "--npl:$npl"; do
    [[ ${list#*:} =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "${list%%:*} takes positive integers separated by \
commas, got '${list#*:}'"
done
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
[[ $batch =~ ^[1-9][0-9]*$ ]] || die "--batch must be a positive integer, got '$batch'"
[[ -z $ctx || $ctx =~ ^[1-9][0-9]*$ ]] || die "--ctx must be a positive integer, got '$ctx'"
[[ -z $fa || $fa =~ ^(on|off|auto)$ ]] || die "--fa takes on, off or auto, got '$fa'"
bench_check_quiet_settings
stamp=$(date -u +%Y%m%d-%H%M)
out=${out:-benchmarks/results/batched-bench-cpu-$stamp}

IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a type_list <<< "$types"
for m in "${model_list[@]}"; do
    [[ -n ${bench_shape_disk_gb[$m]:-} ]] || die "unknown model shape '$m' (known: ${!bench_shape_disk_gb[*]})"
done
for t in "${type_list[@]}"; do
    [[ $t =~ $bench_types_pattern ]] || die "unsupported --types entry '$t'"
done

# The largest row's cells in bloom4j (each request reserves its prompt and TG+1 tokens; with -pps the samples
# share all but the last prompt token), rounded up to 256; llama.cpp gets the same -c. Its default cache is not
# unified: each of its max(npl) sequences gets c / max(npl) cells, which B*(PP+TG+1) leaves enough of.
if [[ -z $ctx ]]; then
    ctx=$(awk -v npp="$npp" -v ntg="$ntg" -v npl="$npl" -v pps="$pps" 'BEGIN {
        n1 = split(npp, pp, ","); n2 = split(ntg, tg, ","); n3 = split(npl, pl, ","); c = 0;
        for (i = 1; i <= n1; i++) for (j = 1; j <= n2; j++) for (k = 1; k <= n3; k++) {
            need = pps ? pp[i] - 1 + pl[k] * (tg[j] + 2) : pl[k] * (pp[i] + tg[j] + 1);
            if (need > c) c = need;
        }
        print int((c + 255) / 256) * 256 }')
fi

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
for sub in init-random convert batched-bench; do
    bloom "$sub" --help >/dev/null 2>&1 || die "this bloom4j has no 'bloom $sub' command (rebuild: drop --no-build)"
done

mkdir -p "$(dirname "$out")"
raw=$(mktemp -d "${TMPDIR:-/tmp}/compare-batched-bench.XXXXXX")
trap 'rm -rf "$raw"' EXIT

# ------------------------------------------------------------------ models
bench_make_models "$models_dir" "$models" "$types"

# ------------------------------------------------------------------ llama.cpp
# A first tiny run on every model file: a build that cannot run here fails now, not after the first measurement.
# On failure smoke_failure says how.
llama_runs_here() {
    local m t status
    for m in "${model_list[@]}"; do
        for t in "${type_list[@]}"; do
            status=0
            "$1" -m "$(bench_gguf "$models_dir" "$m" "$t")" -c 256 -npp 8 -ntg 2 -npl 1 -t "$threads" \
                > "$raw/smoke.out" 2> "$raw/smoke.err" || status=$?
            if (( status != 0 )); then
                smoke_failure="on $m $t: exit status $status"
                (( status > 128 )) && smoke_failure+=" (signal $((status - 128)): $(kill -l $((status - 128))))"
                [[ -s $raw/smoke.err ]] && smoke_failure+="; its last output: $(tail -n 2 "$raw/smoke.err" | tr '\n' ' ')"
                return 1
            fi
        done
    done
}
llama_build="CMake defaults (GGML_NATIVE=ON), Release"
if [[ -n ${LLAMA_BATCHED_BENCH:-} ]]; then
    llama_batched_bench=$LLAMA_BATCHED_BENCH
    llama_build="given as LLAMA_BATCHED_BENCH"
    [[ -x $llama_batched_bench ]] || die "LLAMA_BATCHED_BENCH is not an executable: $llama_batched_bench"
else
    bin=$(bench_build_llama_defaults llama-batched-bench) || exit 1
    llama_batched_bench=$bin/llama-batched-bench
    if ! llama_runs_here "$llama_batched_bench"; then
        log "llama.cpp built with its defaults fails on this machine, $smoke_failure"
        log "building it again with the defaults plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        bin=$(BENCH_LLAMA_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" BENCH_LLAMA_TAG=noamx \
            bench_build_llama_defaults llama-batched-bench) || exit 1
        llama_batched_bench=$bin/llama-batched-bench
        llama_build="CMake defaults (GGML_NATIVE=ON), Release, plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16: \
the default build failed here in a first tiny run, $smoke_failure"
    fi
fi
llama_runs_here "$llama_batched_bench" || die "llama-batched-bench fails on this machine, $smoke_failure"

# ------------------------------------------------------------------ measurement
common=(-c "$ctx" -b "$batch" -npp "$npp" -ntg "$ntg" -npl "$npl" -t "$threads")
[[ $pps == 1 ]] && common+=(-pps)
[[ -n $fa ]] && common+=(-fa "$fa")
runs=$raw/runs.tsv
: > "$runs"
for m in "${model_list[@]}"; do
    for t in "${type_list[@]}"; do
        gguf=$(bench_gguf "$models_dir" "$m" "$t")
        before=$(bench_load1)
        llama_others=$(bench_measure "$m $t: llama-batched-bench" "$raw/$m-$t.llama.jsonl" \
            "$llama_batched_bench" -m "$gguf" "${common[@]}" --output-format jsonl)
        bloom_others=$(bench_measure "$m $t: bloom batched-bench" "$raw/$m-$t.bloom4j.txt" \
            "$java" --enable-native-access=ALL-UNNAMED -jar "$bloom_jar" batched-bench -m "$gguf" "${common[@]}" \
            --json "$raw/$m-$t.bloom4j.json")
        after=$(bench_load1)
        cat "$raw/$m-$t.bloom4j.txt" >&2
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$t" "$threads" "$before" "$after" "$llama_others" \
            "$bloom_others" "$raw/$m-$t.llama.jsonl" "$raw/$m-$t.bloom4j.json" >> "$runs"
    done
done

# ------------------------------------------------------------------ report
llama_header=$(grep -m 1 -o '"n_kv_max".*"n_threads_batch": [0-9]*' "$(awk -F '\t' 'NR == 1 { print $8 }' "$runs")" \
    || true)
bloom_header=$(sed -n 's/^bloom_batched_bench: //p' "$(awk -F '\t' 'NR == 1 { print $9 }' "$runs" \
    | sed 's/\.json$/.txt/')" | head -n 1)
"$java" -cp "$bench_jar" dev.bloom4j.benchmarks.BatchedBenchReport --runs "$runs" \
    --meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --meta "machine=$(bench_cpu_model), $(nproc) cores, $(bench_memory), $(uname -sr); CPU flags include: \
$(bench_cpu_flags)" \
    --meta "bloom4j commit=$(bench_commit)" \
    --meta "llama.cpp commit=$(bench_llama_commit) (pinned); build: $llama_build; program: $llama_batched_bench" \
    --meta "java=$("$java" -version 2>&1 | head -n 1)" \
    --meta "options of both tools=${common[*]}" \
    --meta "llama-batched-bench settings={${llama_header:-?}}" \
    --meta "bloom batched-bench settings=${bloom_header:-?}" \
    --meta "measuring=wait for other processes below $quiet cores, rerun above $max_others cores, $attempts attempts" \
    --meta "models=random weights in real BLOOM shapes (bloom init-random), converted with bloom convert" \
    --meta "command=$command_line" \
    --markdown "$out.md" --json "$out.json"
log "wrote $out.md and $out.json"
exit 0
}
