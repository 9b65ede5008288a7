#!/usr/bin/env bash
# Serving under load: llama.cpp's llama-server against `bloom serve`, in one run, on the same GGUF file, with the same
# threads, slots and KV cells, each loaded by the same client, `bloom bench-serve` (C clients streaming greedy
# completions of --max-tokens tokens from prompts of --prompt-tokens tokens); then a Markdown and a JSON table in
# benchmarks/results/: per C and server, requests, errors, time to first token and inter-token latency (p50, p99),
# the aggregate generated tokens/s, and the ratios bloom4j/llama.cpp of tokens/s and llama.cpp/bloom4j of p99 TTFT
# (above 1, bloom4j is better on both).
#
#   benchmarks/scripts/compare-serve.sh [--concurrency 1,4,16] [--prompt-tokens 128] [--max-tokens 64]
#                                       [--threads 2] [--gguf FILE] [--out PREFIX] [--dry-run] ...
#
# For each C in --concurrency and each server (llama.cpp first): start the server with C slots and C*S KV cells
# (S = --ctx-per-slot), wait for GET /health to answer 200, run
#   bloom bench-serve --url http://127.0.0.1:PORT --concurrency C --prompt-tokens P --max-tokens N --json
# (one warm-up request, then 4*C requests from C closed-loop clients), stop the server. A fresh server per C gives
# each the same start: an empty KV cache and an empty prompt cache (bench-serve's prompts are the same for every
# server). The commands:
#   llama-server -m FILE -t T -np C -c C*S --host 127.0.0.1 --port PORT
#   bloom serve --model FILE --threads T --parallel C --ctx-size C*S --host 127.0.0.1 --port PORT
# Both decode their C streams together (llama-server's continuous batching is on by default). KV cells: with -np
# given, llama-server's cache is not unified (its default then; the log line "kv_unified = 'false'" is kept in the
# table): each slot owns C*S/C = S cells; bloom serve shares its C*S cells among the requests it runs. Everything
# else is each server's default (house style, rule 27: the peer as its users run it); --llama-args and --bloom-args
# add options to one side, and the table records them.
#
# The model is a random-weight checkpoint in a real BLOOM shape (default bloom-560m q8_0), written by
# `bloom init-random` and converted with `bloom convert` into --models-dir, kept and reused (shared with
# compare-llama-bench.sh and compare-batched-bench.sh); or --gguf FILE. Random weights do not change the speed;
# bench-serve asks for ignore_eos so that every request generates --max-tokens tokens.
#
# llama.cpp is built as its users build it: the pinned source, CMake's defaults, Release (GGML_NATIVE=ON). If that
# build dies in a first tiny run (on a VM whose CPU reports AMX, ggml's AMX kernels die at their first ldtilecfg),
# the script says so, builds again with -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 added, and the table records it.
# $LLAMA_SERVER skips the build and uses that program.
#
# The machine may be shared: before each measurement the script waits for a quiet machine, and the table records
# "others", the cores other processes kept busy meanwhile (busy time from /proc/stat minus the server's and the
# client's own CPU time, over the wall time); above --max-others the measurement is repeated on a fresh server.
#
# Needs (each is checked first; a missing one stops the script with what to do):
#   - a JDK 23+ ($JAVA_HOME, else the newest under /usr/lib/jvm), and this checkout's Maven build, which the
#     script runs (./mvnw package -pl cli -am, incremental) unless --no-build; `bloom serve` and
#     `bloom bench-serve` in it (--sides llama needs only bench-serve);
#   - cmake, g++, flock, git and npm (the pinned llama.cpp source, fetched once into the bloom4j cache);
#   - curl and jq; awk, df, nproc, /proc/cpuinfo, /proc/loadavg, /proc/stat, /usr/bin/time.
#
# Options:
#   --concurrency LIST  clients streaming at once, one server start and one run per value (default 1,4,16)
#   --prompt-tokens P   prompt length of every request, in tokens (default 128)
#   --max-tokens N      tokens every request generates (default 64)
#   --requests-per-client K
#                       requests per run = K*C (default 4)
#   --threads N         threads of both servers: -t / --threads (default 2)
#   --ctx-per-slot S    KV cells per slot; each server gets C*S (default: P+N+1 rounded up to a multiple of 256)
#   --model NAME        random-weight shape (default bloom-560m): bloom-560m, bloom-1b1, bloom-1b7, bloom-3b, ...
#   --type T            its GGUF weight type (default q8_0)
#   --gguf FILE         measure this GGUF file instead of --model/--type
#   --models-dir DIR    where the random checkpoints and GGUF files live
#                       (default $BLOOM_CACHE_DIR/bench-models, else ~/.cache/bloom4j/bench-models)
#   --sides LIST        llama, bloom4j or both (default llama,bloom4j); ratios need both
#   --llama-args ARGS   more options for llama-server, split on spaces (e.g. "-kvu" for a unified cache)
#   --bloom-args ARGS   more options for bloom serve, split on spaces
#   --port N            the port both servers listen on, one at a time, on 127.0.0.1 (default 18431)
#   --start-timeout S   seconds a server may take to answer /health with 200 (default 180)
#   --out PREFIX        result files PREFIX.md and PREFIX.json
#                       (default benchmarks/results/serve-bench-cpu-<UTC date and time>)
#   --no-build          use cli/target/bloom.jar as it is
#   --dry-run           check the options, print every command the run would start, and stop (builds nothing)
#   --quiet CORES       before each measurement, wait until other processes keep less than CORES cores busy over
#                       5 s (default 0.15; 0 = do not wait), for at most --max-wait minutes (default 20)
#   --max-others C      measure again, on a fresh server (up to --attempts times, default 3), when other processes
#                       kept more than C cores busy on average meanwhile (default 0.1)
#
# The default run (C 1, 4, 16; 4, 16 and 64 requests) takes about 8 minutes on a quiet 2-core VM, more when a
# measurement is repeated. A first try:
#   benchmarks/scripts/compare-serve.sh --concurrency 1,2 --max-tokens 16 --out /tmp/serve-try
set -euo pipefail
# The whole script is one block, parsed before it runs: a long measurement is not derailed by an edit to this file.
{
self=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$self")/../.." && pwd)
cd "$repo"
command_line="benchmarks/scripts/compare-serve.sh${*:+ $*}"

log() { echo "compare-serve: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench-common.sh
source "$repo/benchmarks/scripts/bench-common.sh"

concurrency=1,4,16
prompt_tokens=128
max_tokens=64
per_client=4
threads=2
ctx_per_slot=""
model=bloom-560m
type=q8_0
gguf=""
models_dir="$(bench_cache_dir)/bench-models"
sides=llama,bloom4j
llama_args=""
bloom_args=""
port=18431
start_timeout=180
out=""
build=1
dry_run=0
quiet=0.15
max_wait=20
max_others=0.1
attempts=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --concurrency) concurrency=${2:?--concurrency needs a value}; shift 2 ;;
        --prompt-tokens) prompt_tokens=${2:?--prompt-tokens needs a value}; shift 2 ;;
        --max-tokens) max_tokens=${2:?--max-tokens needs a value}; shift 2 ;;
        --requests-per-client) per_client=${2:?--requests-per-client needs a value}; shift 2 ;;
        --threads) threads=${2:?--threads needs a value}; shift 2 ;;
        --ctx-per-slot) ctx_per_slot=${2:?--ctx-per-slot needs a value}; shift 2 ;;
        --model) model=${2:?--model needs a value}; shift 2 ;;
        --type) type=${2:?--type needs a value}; shift 2 ;;
        --gguf) gguf=${2:?--gguf needs a value}; shift 2 ;;
        --models-dir) models_dir=${2:?--models-dir needs a value}; shift 2 ;;
        --sides) sides=${2:?--sides needs a value}; shift 2 ;;
        --llama-args) llama_args=${2?--llama-args needs a value}; shift 2 ;;
        --bloom-args) bloom_args=${2?--bloom-args needs a value}; shift 2 ;;
        --port) port=${2:?--port needs a value}; shift 2 ;;
        --start-timeout) start_timeout=${2:?--start-timeout needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --no-build) build=0; shift ;;
        --dry-run) dry_run=1; shift ;;
        --quiet) quiet=${2:?--quiet needs a value}; shift 2 ;;
        --max-wait) max_wait=${2:?--max-wait needs a value}; shift 2 ;;
        --max-others) max_others=${2:?--max-others needs a value}; shift 2 ;;
        --attempts) attempts=${2:?--attempts needs a value}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done
[[ $concurrency =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--concurrency takes positive integers separated by \
commas, got '$concurrency'"
for v in "--prompt-tokens:$prompt_tokens" "--max-tokens:$max_tokens" "--requests-per-client:$per_client" \
         "--threads:$threads" "--port:$port" "--start-timeout:$start_timeout"; do
    [[ ${v#*:} =~ ^[1-9][0-9]*$ ]] || die "${v%%:*} must be a positive integer, got '${v#*:}'"
done
(( port < 65536 )) || die "--port must be below 65536, got $port"
[[ -z $ctx_per_slot || $ctx_per_slot =~ ^[1-9][0-9]*$ ]] || die "--ctx-per-slot must be a positive integer, got \
'$ctx_per_slot'"
[[ $sides =~ ^(llama|bloom4j)(,(llama|bloom4j))?$ ]] || die "--sides takes llama, bloom4j or llama,bloom4j, got \
'$sides'"
bench_check_quiet_settings
# A request holds its prompt, its tokens and (in bloom4j, which reserves them at admission) one more cell.
ctx_per_slot=${ctx_per_slot:-$(( (prompt_tokens + max_tokens + 1 + 255) / 256 * 256 ))}
(( ctx_per_slot >= prompt_tokens + max_tokens + 1 )) || die "--ctx-per-slot $ctx_per_slot cannot hold a request: \
it needs $((prompt_tokens + max_tokens + 1)) cells (prompt + tokens + 1)"
IFS=, read -r -a c_list <<< "$concurrency"
IFS=, read -r -a side_list <<< "$sides"
read -r -a llama_extra <<< "$llama_args"
read -r -a bloom_extra <<< "$bloom_args"
if [[ -z $gguf ]]; then
    [[ -n ${bench_shape_disk_gb[$model]:-} ]] || die "unknown model shape '$model' (known: ${!bench_shape_disk_gb[*]})"
    [[ $type =~ $bench_types_pattern ]] || die "unsupported --type '$type'"
    gguf=$(bench_gguf "$models_dir" "$model" "$type")
    model_note="$model $type, random weights in its real BLOOM shape (bloom init-random, bloom convert)"
else
    [[ -f $gguf ]] || die "--gguf: no such file: $gguf"
    gguf=$(readlink -f "$gguf")
    model_note="given as --gguf"
fi
stamp=$(date -u +%Y%m%d-%H%M)
out=${out:-benchmarks/results/serve-bench-cpu-$stamp}
url="http://127.0.0.1:$port"
client_jvm=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1)

# The server commands for C clients (in the array server_cmd), and the client's arguments.
server_command() {
    local side=$1 c=$2
    if [[ $side == llama ]]; then
        server_cmd=("$llama_server" -m "$gguf" -t "$threads" -np "$c" -c "$((c * ctx_per_slot))"
            --host 127.0.0.1 --port "$port" "${llama_extra[@]}")
    else
        server_cmd=("$java" --enable-native-access=ALL-UNNAMED -jar "$bloom_jar" serve --model "$gguf"
            --threads "$threads" --parallel "$c" --ctx-size "$((c * ctx_per_slot))" --host 127.0.0.1
            --port "$port" "${bloom_extra[@]}")
    fi
}
# The client's command for C clients (in the array bench_cmd): one JVM tuned to take little CPU from the server.
bench_args() {
    bench_cmd=("$java" "${client_jvm[@]}" --enable-native-access=ALL-UNNAMED -jar "$bloom_jar" bench-serve
        --url "$url" --concurrency "$1" --requests "$(($1 * per_client))" --prompt-tokens "$prompt_tokens"
        --max-tokens "$max_tokens" --json)
}
side_name() { [[ $1 == llama ]] && echo llama.cpp || echo bloom4j; }

if [[ $dry_run == 1 ]]; then
    llama_server=${LLAMA_SERVER:-"<the pinned llama.cpp's llama-server, built with CMake defaults>"}
    bench_find_java
    bloom_jar=$repo/cli/target/bloom.jar
    log "dry run: model $gguf ($model_note); $ctx_per_slot KV cells per slot; results would go to $out.{md,json}"
    for c in "${c_list[@]}"; do
        for side in "${side_list[@]}"; do
            server_command "$side" "$c"
            bench_args "$c"
            echo "C=$c $(side_name "$side"): ${server_cmd[*]}"
            echo "C=$c $(side_name "$side"): then, once $url/health answers 200: ${bench_cmd[*]}"
        done
    done
    exit 0
fi

# ------------------------------------------------------------------ dependencies
bench_check_tools
for tool in curl jq; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install $tool)"
done
bench_find_java
if curl -s -o /dev/null --max-time 2 "$url/" 2>/dev/null; then
    die "something already listens on 127.0.0.1:$port; choose another --port"
fi
if [[ $build == 1 ]]; then
    log "building bloom4j (./mvnw package -pl cli -am, tests skipped)"
    ./mvnw -B -q package -pl cli -am -DskipTests >&2 || die "the Maven build failed"
fi
bloom_jar=$repo/cli/target/bloom.jar
[[ -f $bloom_jar ]] || die "$bloom_jar is missing (run without --no-build)"
bloom() { "$java" --enable-native-access=ALL-UNNAMED -jar "$bloom_jar" "$@"; }
needed=(bench-serve)
[[ $sides == *bloom4j* ]] && needed+=(serve)
[[ -f $gguf ]] || needed+=(init-random convert)
for sub in "${needed[@]}"; do
    bloom "$sub" --help >/dev/null 2>&1 || die "this bloom4j has no 'bloom $sub' command (rebuild: drop --no-build; \
without bloom serve, --sides llama measures llama-server alone)"
done

mkdir -p "$(dirname "$out")"
raw=$(mktemp -d "${TMPDIR:-/tmp}/compare-serve.XXXXXX")
server_pid=""
# Stops the server this script started, if one runs: SIGTERM, then SIGKILL after 15 s.
stop_server() {
    local pid=$server_pid i
    [[ -n $pid ]] || return 0
    server_pid=""
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
client_pid=""
# Stops the client if one runs: /usr/bin/time and the JVM it started.
stop_client() {
    local pid=$client_pid
    [[ -n $pid ]] || return 0
    client_pid=""
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# The client and the servers run in the background and are waited for with `wait`, which a signal interrupts, so
# that Ctrl-C or a kill stops them at once.
trap 'stop_client; stop_server; rm -rf "$raw"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A copy of the jar: a rebuild of the checkout during the measurement does not change what is measured.
cp "$bloom_jar" "$raw/bloom.jar"
bloom_jar=$raw/bloom.jar
shown() { echo "$*" | sed "s|$raw/bloom.jar|cli/target/bloom.jar|g"; }

# ------------------------------------------------------------------ model
[[ -f $gguf ]] || bench_make_models "$models_dir" "$model" "$type"

# ------------------------------------------------------------------ servers
# start_server NAME LOG: starts server_cmd with its output in LOG and waits until /health answers 200. Returns 1
# (with start_failure saying how) when the server exits or does not get ready in time.
start_server() {
    local name=$1 server_log=$2 deadline=$((SECONDS + start_timeout)) status code
    "${server_cmd[@]}" > "$server_log" 2>&1 &
    server_pid=$!
    while :; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            status=0
            wait "$server_pid" || status=$?
            server_pid=""
            start_failure="$name exited with status $status"
            (( status > 128 )) && start_failure+=" (signal $((status - 128)): $(kill -l $((status - 128))))"
            start_failure+="; its last output: $(tail -n 3 "$server_log" | tr '\n' ' ')"
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/health" || true)
        [[ $code == 200 ]] && return 0
        if (( SECONDS >= deadline )); then
            stop_server
            start_failure="$name did not answer $url/health with 200 within $start_timeout s (last: ${code:-none}); \
its last output: $(tail -n 3 "$server_log" | tr '\n' ' ')"
            return 1
        fi
        sleep 0.5
    done
}

# A first tiny run: start the server, one short completion, stop. A build that cannot run here fails now; on failure
# smoke_failure says how.
llama_runs_here() {
    local status
    server_command llama 1
    start_server llama-server "$raw/smoke.log" || { smoke_failure=$start_failure; return 1; }
    if curl -s -f --max-time 120 -o "$raw/smoke.out" -H 'Content-Type: application/json' \
            -d '{"prompt": " the world", "max_tokens": 2, "temperature": 0}' "$url/v1/completions"; then
        stop_server
        return 0
    fi
    sleep 1
    if kill -0 "$server_pid" 2>/dev/null; then
        stop_server
        smoke_failure="llama-server answered a first completion with an error: $(tail -c 300 "$raw/smoke.out" \
2>/dev/null)"
    else
        status=0
        wait "$server_pid" || status=$?
        server_pid=""
        smoke_failure="llama-server died on a first completion, exit status $status"
        (( status > 128 )) && smoke_failure+=" (signal $((status - 128)): $(kill -l $((status - 128))))"
    fi
    return 1
}
llama_build="CMake defaults (GGML_NATIVE=ON), Release"
if [[ $sides == *llama* ]]; then
    if [[ -n ${LLAMA_SERVER:-} ]]; then
        llama_server=$LLAMA_SERVER
        llama_build="given as LLAMA_SERVER"
        [[ -x $llama_server ]] || die "LLAMA_SERVER is not an executable: $llama_server"
    else
        bin=$(bench_build_llama_defaults llama-server) || exit 1
        llama_server=$bin/llama-server
        if ! llama_runs_here; then
            log "llama.cpp built with its defaults fails on this machine: $smoke_failure"
            log "building it again with the defaults plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
            bin=$(BENCH_LLAMA_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" BENCH_LLAMA_TAG=noamx \
                bench_build_llama_defaults llama-server) || exit 1
            llama_server=$bin/llama-server
            llama_build="CMake defaults (GGML_NATIVE=ON), Release, plus -mno-amx-tile -mno-amx-int8 -mno-amx-bf16: \
the default build failed here in a first tiny run: ${smoke_failure%%; its last output*}"
        fi
    fi
    llama_runs_here || die "llama-server fails on this machine: $smoke_failure"
fi

# ------------------------------------------------------------------ measurement
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# measure SIDE C ATTEMPT: one server start and one bench-serve run; writes $raw/SIDE-cC.json (bench-serve's line
# plus the run's facts) and sets others. Not run in a subshell: the EXIT trap must see server_pid.
measure() {
    local side=$1 c=$2 attempt=$3 name tag hz b0 b1 s0 s1 t0 t1 status settings
    name=$(side_name "$side")
    tag=$side-c$c
    hz=$(getconf CLK_TCK)
    server_command "$side" "$c"
    bench_args "$c"
    bench_wait_quiet
    log "C=$c $name: starting the server (attempt $attempt, load $(bench_load1))"
    start_server "$name" "$raw/$tag.log" || die "$start_failure"
    b0=$(bench_busy_ticks)
    s0=$(proc_ticks "$server_pid")
    t0=$(date +%s%N)
    status=0
    /usr/bin/time -f '%U %S' -o "$raw/$tag.time" "${bench_cmd[@]}" > "$raw/$tag.out" 2> "$raw/$tag.err" &
    client_pid=$!
    wait "$client_pid" || status=$?
    client_pid=""
    t1=$(date +%s%N)
    s1=$(proc_ticks "$server_pid")
    b1=$(bench_busy_ticks)
    kill -0 "$server_pid" 2>/dev/null || die "$name died during the run; its last output: \
$(tail -n 5 "$raw/$tag.log" | tr '\n' ' ')"
    stop_server
    [[ -s $raw/$tag.err ]] && sed "s/^/  bench-serve: /" "$raw/$tag.err" >&2
    [[ $(wc -l < "$raw/$tag.out") -eq 1 ]] || die "bench-serve against $name failed (status $status); its \
output: $(tail -n 3 "$raw/$tag.err" | tr '\n' ' '); the server's last output: \
$(tail -n 3 "$raw/$tag.log" | tr '\n' ' ')"
    settings=""
    if [[ $side == llama ]]; then
        settings=$(grep -m 1 -o 'n_slots = .*' "$raw/$tag.log" || true)
    else
        settings=$(sed -n 's/^bloom serve: listening on [^ ]* (\(.*\)); .*/\1/p' "$raw/$tag.log" | head -n 1)
    fi
    awk -v b0="$b0" -v b1="$b1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
        '{ wall = (t1 - t0) / 1e9; o = ((b1 - b0) - (s1 - s0)) / hz - ($1 + $2); if (o < 0) o = 0;
           printf "%.2f", o / wall }' "$raw/$tag.time" > "$raw/$tag.others"
    jq -c --arg side "$name" --arg command "$(shown "${server_cmd[@]}")" --arg settings "$settings" \
        --argjson others "$(cat "$raw/$tag.others")" --argjson attempt "$attempt" \
        '{side: $side} + . + {others: $others, attempt: $attempt, server_command: $command,
          server_settings: $settings}' "$raw/$tag.out" > "$raw/$tag.json"
    others=$(cat "$raw/$tag.others")
}

load_before=$(bench_load1)
for c in "${c_list[@]}"; do
    for side in "${side_list[@]}"; do
        for ((attempt = 1; attempt <= attempts; attempt++)); do
            measure "$side" "$c" "$attempt"
            jq -r '"  \(.side) C=\(.concurrency): \(.requests) requests, \(.errors) errors, TTFT p50/p99 "
                   + "\(.ttft_ms_p50)/\(.ttft_ms_p99) ms, ITL p50/p99 \(.itl_ms_p50)/\(.itl_ms_p99) ms, "
                   + "\(.tokens_per_s) tok/s, others \(.others)"' "$raw/$side-c$c.json" >&2
            bench_above "$others" "$max_others" || break
            log "C=$c $(side_name "$side"): other processes kept $others cores busy meanwhile"
        done
    done
done
load_after=$(bench_load1)

# ------------------------------------------------------------------ report
bench_cmd_text="java ${client_jvm[*]} --enable-native-access=ALL-UNNAMED -jar cli/target/bloom.jar bench-serve --url \
$url --concurrency C --requests $per_client*C --prompt-tokens $prompt_tokens --max-tokens $max_tokens --json"
cat "$raw"/*-c*.json | jq -s \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg machine "$(bench_cpu_model), $(nproc) cores, $(bench_memory), $(uname -sr); CPU flags include: \
$(bench_cpu_flags)" \
    --arg commit "$(bench_commit)" \
    --arg llama "$(bench_llama_commit) (pinned); build: $llama_build; program: ${llama_server:-not run}" \
    --arg javav "$("$java" -version 2>&1 | head -n 1)" \
    --arg model "$gguf ($model_note)" \
    --arg load "$load_before → $load_after" \
    --arg llama_cmd "llama-server -m FILE -t $threads -np C -c C*$ctx_per_slot --host 127.0.0.1 --port $port\
${llama_args:+ $llama_args}" \
    --arg bloom_cmd "java --enable-native-access=ALL-UNNAMED -jar cli/target/bloom.jar serve --model FILE --threads \
$threads --parallel C --ctx-size C*$ctx_per_slot --host 127.0.0.1 --port $port${bloom_args:+ $bloom_args}" \
    --arg bench "$bench_cmd_text" \
    --arg measuring "wait for other processes below $quiet cores, rerun on a fresh server above $max_others cores, \
$attempts attempts" \
    --arg command "$command_line" \
    --argjson order "$(printf '%s\n' "${c_list[@]}" | jq -s .)" '
    def ratio(a; b): if a == null or b == null or b == 0 then null else (a / b * 100 | round) / 100 end;
    . as $rows
    | {meta: {date: $date, machine: $machine, "bloom4j commit": $commit, "llama.cpp commit": $llama, java: $javav,
              model: $model, "llama-server command": $llama_cmd, "bloom serve command": $bloom_cmd,
              "client command": $bench, "load (1-minute average, before → after)": $load,
              measuring: $measuring, command: $command},
       rows: [$order[] as $c | ["llama.cpp", "bloom4j"][] as $s | $rows[] | select(.concurrency == $c and .side == $s)],
       ratios: [$order[] as $c
                | ($rows | map(select(.concurrency == $c and .side == "llama.cpp")) | first) as $l
                | ($rows | map(select(.concurrency == $c and .side == "bloom4j")) | first) as $b
                | select($l != null and $b != null)
                | {concurrency: $c, tokens_per_s_bloom4j_over_llama: ratio($b.tokens_per_s; $l.tokens_per_s),
                   ttft_p99_llama_over_bloom4j: ratio($l.ttft_ms_p99; $b.ttft_ms_p99)}]}' > "$out.json"

jq -r '
    def n: if . == null then "-" else tostring end;
    def f(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
    .meta as $m | .ratios as $r
    | "# bloom serve vs llama.cpp llama-server, CPU, under load from bloom bench-serve", "",
      ($m | to_entries[] | "- \(.key): \(if .key == "command" or (.key | endswith(" command")) then "`\(.value)`"
                                         else .value end)"),
      "",
      "For each C, each server was started with C slots, loaded by C clients that each stream one greedy completion "
      + "after another (ignore_eos, so all of max_tokens), then stopped; one untimed warm-up request first. Every "
      + "request has its own prompt (the same prompts for both servers). TTFT = time to the first chunk with text; "
      + "ITL = gap between chunks with text, all requests pooled; tok/s = completion tokens of the run / its wall "
      + "time (the aggregate); stream tok/s = the mean decode speed one client saw. tok/s ratio = bloom4j / "
      + "llama.cpp, TTFT ratio = llama.cpp / bloom4j p99: above 1, bloom4j is better. others = cores busy with "
      + "other processes meanwhile (near 0 for a clean figure). KV cells: llama-server with -np C keeps one cache "
      + "per slot (not unified, its default then; server column), bloom serve shares its C*S cells.",
      "",
      "| C | side | requests | errors | prompt tokens | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | "
      + "tok/s | stream tok/s | tok/s ratio | p99 TTFT ratio | others | server |",
      "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
      (.rows[] | . as $row | ($r | map(select(.concurrency == $row.concurrency)) | first) as $q
       | "| \(.concurrency) | \(.side) | \(.requests) | \(.errors) | \(.prompt_tokens_mean | n) | "
         + "\(.ttft_ms_p50 | f(1)) | \(.ttft_ms_p99 | f(1)) | \(.itl_ms_p50 | f(1)) | \(.itl_ms_p99 | f(1)) | "
         + "\(.tokens_per_s | f(2)) | \(.stream_tokens_per_s_mean | f(2)) | "
         + (if .side == "bloom4j" and $q != null
            then "**\($q.tokens_per_s_bloom4j_over_llama | n)** | **\($q.ttft_p99_llama_over_bloom4j | n)**"
            else "- | -" end)
         + " | \(.others) | \(if .server_settings != "" then .server_settings else "-" end) |"),
      "",
      "Server commands, as run:", "",
      (.rows[] | "- C=\(.concurrency) \(.side): `\(.server_command)`"),
      (.rows[] | select(.first_error != null) | "", "C=\(.concurrency) \(.side), first error: \(.first_error)")
    ' "$out.json" > "$out.md"
log "wrote $out.md and $out.json"
exit 0
}
