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
#   - llama-bench: $LLAMA_BENCH, else built by ci/llama/build.sh from the pinned llama.cpp (cached, a few minutes
#     the first time);
#   - the `bloom init-random` and `bloom convert` commands (./bloom);
#   - g++ for the C harness (benchmarks/scripts/build-native-harness.sh);
#   - awk, df, nproc, /proc/cpuinfo, /proc/loadavg, /proc/stat, /usr/bin/time.
#
# Options:
#   --models LIST     model shapes (default bloom-560m): bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, bloom-7b1
#   --types LIST      GGUF weight types (default f16,q8_0,q4_0)
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

models=bloom-560m
types=f16,q8_0,q4_0
threads=$(nproc)
reps=5
out=""
models_dir="${BLOOM_CACHE_DIR:-$HOME/.cache/bloom4j}/bench-models"
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
[[ $attempts =~ ^[1-9][0-9]*$ ]] || die "--attempts must be a positive integer, got '$attempts'"
[[ $max_wait =~ ^[0-9]+$ ]] || die "--max-wait must be a whole number of minutes, got '$max_wait'"
for v in "$quiet" "$max_others"; do
    [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--quiet and --max-others take a number of cores, got '$v'"
done
stamp=$(date -u +%Y%m%d-%H%M)
out=${out:-benchmarks/results/llama-bench-cpu-$stamp}

# ------------------------------------------------------------------ shapes
# The released shapes `bloom init-random --config NAME` knows. Disk each needs, in GB: the f16 checkpoint plus the
# GGUF files (f16 the same again, q8_0 ~ 53 % and q4_0 ~ 28 % of it), rounded up.
declare -A shape_disk_gb=([bloom-560m]=4 [bloom-1b1]=6 [bloom-1b7]=10 [bloom-3b]=17 [bloom-7b1]=40)
IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a type_list <<< "$types"
for m in "${model_list[@]}"; do
    [[ -n ${shape_disk_gb[$m]:-} ]] || die "unknown model shape '$m' (known: ${!shape_disk_gb[*]})"
done
for t in "${type_list[@]}"; do
    case $t in f16|q8_0|q4_0|bf16|f32|q4_1|q5_0|q5_1|q4_k_m|q5_k_m|q6_k) ;; *) die "unsupported --types entry '$t'" ;; esac
done

# ------------------------------------------------------------------ dependencies
for tool in awk df nproc; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"
[[ -r /proc/stat && -r /proc/loadavg && -r /proc/cpuinfo ]] || die "needs Linux /proc (stat, loadavg, cpuinfo)"

java_feature() { "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1; }
java=""
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java && $(java_feature "$JAVA_HOME/bin/java") -ge 23 ]]; then
    java=$JAVA_HOME/bin/java
else
    for candidate in /usr/lib/jvm/*/bin/java; do
        [[ -x $candidate ]] || continue
        f=$(java_feature "$candidate")
        [[ -n $f && $f -ge 23 ]] && java=$candidate
    done
fi
[[ -n $java ]] || die "needs a JDK 23+ (set JAVA_HOME, e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
export JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java")")")

if [[ -z ${LLAMA_BENCH:-} ]]; then
    [[ -f ci/llama/build.sh ]] || die "needs llama-bench: set LLAMA_BENCH=/path/to/llama-bench, or check out a \
bloom4j with ci/llama/build.sh (the llama.cpp oracle build)"
    log "building llama.cpp's tools with ci/llama/build.sh (cached after the first time)"
    eval "$(bash ci/llama/build.sh)"
    LLAMA_BENCH=${BLOOM_LLAMA_BIN:?ci/llama/build.sh did not print BLOOM_LLAMA_BIN}/llama-bench
fi
[[ -x $LLAMA_BENCH ]] || die "llama-bench not found or not executable: $LLAMA_BENCH"

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

mkdir -p "$models_dir" "$(dirname "$out")"
need_gb=0
for m in "${model_list[@]}"; do
    [[ -d $models_dir/$m ]] || need_gb=$((need_gb + ${shape_disk_gb[$m]}))
done
free_gb=$(df -Pk "$models_dir" | awk 'NR == 2 { print int($4 / 1048576) }')
(( free_gb >= need_gb + 2 )) || die "$models_dir has ${free_gb} GB free; the models need ~${need_gb} GB (+2 spare)"

# ------------------------------------------------------------------ models
gguf_of() { echo "$models_dir/$1-$2.gguf"; }
for m in "${model_list[@]}"; do
    dir=$models_dir/$m
    if [[ ! -f $dir/config.json ]]; then
        log "writing a random-weight $m checkpoint (f16) into $dir"
        rm -rf "$dir.tmp"
        bloom init-random --config "$m" --out "$dir.tmp" --dtype f16 --seed 1 >&2
        mv "$dir.tmp" "$dir"
    fi
    for t in "${type_list[@]}"; do
        gguf=$(gguf_of "$m" "$t")
        if [[ ! -f $gguf ]]; then
            log "converting $m to $t"
            bloom convert --model "$dir" --out "$gguf.tmp" --type "$t" >&2
            mv "$gguf.tmp" "$gguf"
        fi
    done
done

# ------------------------------------------------------------------ measurement
raw=$(mktemp -d "${TMPDIR:-/tmp}/compare-llama-bench.XXXXXX")
trap 'rm -rf "$raw"' EXIT
load1() { cut -d' ' -f1 /proc/loadavg; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
ticks_per_s=$(getconf CLK_TCK)

# Runs a command with stdout to $1, timing it; prints the cores other processes kept busy meanwhile.
measured() {
    local output=$1 times=$raw/times start_busy end_busy start_ns end_ns
    shift
    start_busy=$(busy_ticks)
    start_ns=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$times" "$@" > "$output"
    end_ns=$(date +%s%N)
    end_busy=$(busy_ticks)
    awk -v b0="$start_busy" -v b1="$end_busy" -v hz="$ticks_per_s" -v t0="$start_ns" -v t1="$end_ns" \
        '{ wall = (t1 - t0) / 1e9; others = (b1 - b0) / hz - ($1 + $2); if (others < 0) others = 0;
           printf "%.2f", others / wall }' "$times"
}

# Cores busy over the next 5 s (nothing of ours runs meanwhile, so all of it is other processes).
busy_cores() {
    local b0 b1
    b0=$(busy_ticks)
    sleep 5
    b1=$(busy_ticks)
    awk -v b0="$b0" -v b1="$b1" -v hz="$ticks_per_s" 'BEGIN { printf "%.2f", (b1 - b0) / hz / 5 }'
}

above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

wait_quiet() {
    [[ $quiet != 0 ]] || return 0
    local deadline=$((SECONDS + max_wait * 60)) busy
    while busy=$(busy_cores) && above "$busy" "$quiet"; do
        if (( SECONDS >= deadline )); then
            log "other processes still keep $busy cores busy after $max_wait minutes; measuring anyway"
            return 0
        fi
        sleep 10
    done
}

# measure NAME OUTPUT COMMAND...: waits for a quiet machine, runs, and reruns while others interfered; prints the
# others figure of the kept run.
measure() {
    local name=$1 output=$2 attempt others
    shift 2
    for ((attempt = 1; attempt <= attempts; attempt++)); do
        wait_quiet
        log "$name (attempt $attempt, load $(load1))"
        others=$(measured "$output" "$@")
        above "$others" "$max_others" || break
        log "$name: other processes kept $others cores busy meanwhile"
    done
    echo "$others"
}

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
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
flags=$(awk '/^flags/ { n = split($0, f, " "); s = "";
    for (i = 1; i <= n; i++) if (f[i] ~ /^(avx2|fma|f16c|avx512f|avx512_bf16|avx512_vnni|amx_tile)$/) s = s (s ? " " : "") f[i];
    print s; exit }' /proc/cpuinfo)
first_bloom_json=$(awk -F '\t' 'NR == 1 { print $10 }' "$runs")
bloom_variant=$(sed -n 's/.*"library_variant" *: *"\([^"]*\)".*/\1/p' "$first_bloom_json" | head -n 1)
llama_variant=$(echo "$LLAMA_BENCH" | sed -n 's|.*/llama-build-[0-9a-f]*-\([^/]*\)/.*|\1|p')
llama_variant=${llama_variant:-unknown (LLAMA_BENCH=$LLAMA_BENCH)}
# The pin (cmake/fetch-llama.cpp.cmake, formerly cmake/ggml.cmake) and what llama-bench itself says it was built from.
llama_commit=$(cat cmake/*.cmake | sed -n 's/^ *set(BLOOM_GGML_COMMIT "\([0-9a-f]*\)")/\1/p' | head -n 1)
first_llama_json=$(awk -F '\t' 'NR == 1 { print $9 }' "$runs")
llama_build=$(sed -n 's/.*"build_commit": *"\([^"]*\)".*/\1/p' "$first_llama_json" | head -n 1)
"$java" -cp "$bench_jar" dev.bloom4j.benchmarks.LlamaBenchReport --runs "$runs" \
    --meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --meta "machine=$cpu, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); \
CPU flags include: $flags; bloom4j's library variant: $bloom_variant; llama.cpp's build: $llama_variant" \
    --meta "bloom4j commit=$commit" \
    --meta "llama.cpp commit=${llama_commit:-unknown} (llama-bench reports build ${llama_build:-unknown}; built by ci/llama/build.sh: $LLAMA_BENCH)" \
    --meta "java=$("$java" -version 2>&1 | head -n 1)" \
    --meta "threads=$threads, repetitions=$reps, quiet=$quiet cores, max others=$max_others cores, attempts=$attempts" \
    --meta "models=random weights in real BLOOM shapes (bloom init-random), converted with bloom convert" \
    --meta "command=$command_line" \
    --markdown "$out.md" --json "$out.json"
log "wrote $out.md and $out.json"
exit 0
}
