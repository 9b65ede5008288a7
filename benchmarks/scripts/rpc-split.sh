#!/usr/bin/env bash
# Prefill and decode of bloom-560m and bloom-1b7 (random weights, f16 GGUF) on this CPU alone and split evenly over
# 1, 2 and 3 `bloom rpc-server` processes on loopback (--split-mode layer, every block and the output layer on the
# servers), with the bytes the servers received and sent per prompt token and per decoded token
# (dev.bloom4j.benchmarks.RpcSplit reads their sockets' TCP payload counters with ss -ti). Writes
# benchmarks/results/rpc-split-<date>.{md,json}.
#
# On one machine the servers share its cores with the client, so the figures show what the split costs in
# round trips and copies, not what several machines gain; a layer split runs one device at a time for one sequence
# anyway (pipeline, not tensor parallelism). The servers and the local run use --threads (default: all cores); the
# client of a split run uses --client-threads (default 1): it computes nothing but the embedding lookup, and a
# client thread pool spinning between graphs on the cores a server computes on halves the server's decode speed
# (measured by hand on the 2-core VM, 2026-12-04, not a committed result: bloom-560m tg 9.4 tok/s with
# --client-threads 2, 16.2 with 1; the committed rpc-split table uses 1). README's "BLOOM-176B across hosts" builds
# its estimate on the bytes.
#
# Usage: benchmarks/scripts/rpc-split.sh [--models bloom-560m,bloom-1b7] [--type f16] [--threads N]
#                                        [--client-threads N] [-p 128] [-n 32] [-r 3] [--no-build]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { echo "rpc-split: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=bench-common.sh
source "$repo/benchmarks/scripts/bench-common.sh"

models=bloom-560m,bloom-1b7
type=f16
threads=$(nproc)
client_threads=1
prompt=128
gen=32
reps=3
build=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --models) models=$2; shift 2 ;;
        --type) type=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --client-threads) client_threads=$2; shift 2 ;;
        -p) prompt=$2; shift 2 ;;
        -n) gen=$2; shift 2 ;;
        -r) reps=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $type =~ $bench_types_pattern ]] || die "--type $type is not one of the benchmark types"

bench_find_java
if [[ $build == 1 ]]; then
    log "building (./mvnw -B -q install -DskipTests)"
    (cd "$repo" && ./mvnw -B -q install -DskipTests)
fi
bench_jar=$repo/benchmarks/target/benchmarks.jar
cli_jar=$repo/cli/target/bloom.jar
[[ -f $bench_jar && -f $cli_jar ]] || die "missing $bench_jar or $cli_jar (run without --no-build)"
bloom() { "$java" --enable-native-access=ALL-UNNAMED -jar "$cli_jar" "$@"; }

models_dir=$(bench_cache_dir)/bench-models
bench_make_models "$models_dir" "$models" "$type"

raw=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$raw"
}
trap cleanup EXIT


# Three servers, each serving its CPU with all threads; the first N of them serve a run over N hosts.
endpoints=()
for i in 1 2 3; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$java" --enable-native-access=ALL-UNNAMED -jar "$cli_jar" rpc-server --port "$port" --threads "$threads" \
        >"$raw/server-$i.log" 2>&1 &
    pids+=($!)
    endpoints+=("127.0.0.1:$port")
done
for e in "${endpoints[@]}"; do
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/${e%:*}/${e#*:}") 2>/dev/null && break
        sleep 0.1
    done
done

stamp=$(date -u +%Y%m%d-%H%M)
json=$repo/benchmarks/results/rpc-split-$stamp.json
md=$repo/benchmarks/results/rpc-split-$stamp.md
: >"$raw/all.jsonl"
IFS=, read -r -a model_list <<<"$models"
for m in "${model_list[@]}"; do
    gguf=$(bench_gguf "$models_dir" "$m" "$type")
    for hosts in 0 1 2 3; do
        rpc=$(IFS=,; echo "${endpoints[*]:0:$hosts}")
        t=$([[ $hosts == 0 ]] && echo "$threads" || echo "$client_threads")
        log "$m $type over $hosts host(s), $t client thread(s)"
        # Each run connects anew; a server serves one client at a time, and ggml keeps the connection until the
        # client process ends, so every run is its own JVM.
        "$java" --enable-native-access=ALL-UNNAMED -cp "$bench_jar" dev.bloom4j.benchmarks.RpcSplit --model "$gguf" \
            --rpc "$rpc" --threads "$t" -p "$prompt" -n "$gen" -r "$reps" \
            >>"$raw/all.jsonl"
    done
done

python3 - "$raw/all.jsonl" "$json" "$md" "$(bench_cpu_model)" "$(nproc)" "$(bench_memory)" "$(bench_commit "$repo")" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu, cores, mem, commit = sys.argv[4:8]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
json.dump({"date": date, "cpu": cpu, "cores": cores, "memory": mem, "commit": commit, "runs": rows},
          open(sys.argv[2], "w"), indent=2)
out = [f"# bloom4j over loopback RPC servers ({date})", "",
       f"Machine: {cpu}, {cores} cores, {mem}. Commit {commit}. Every process on this one machine: client and servers "
       "share its cores (servers and the local run with all of them, the client of a split run with the threads "
       "column). Random weights, llama-bench definitions (pp: one evaluation of the prompt; tg: single-token steps "
       "from an empty cache), mean of the repetitions. Bytes: TCP payload all servers received (to) and sent (from) "
       "per token, from their sockets' counters (ss -ti).", "",
       "| model | hosts | client threads | pp tok/s | vs local | tg tok/s | vs local | bytes to servers / prompt token | "
       "from / prompt token | bytes to servers / decoded token | from / decoded token |",
       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
local = {}
for r in rows:
    if r["hosts"] == 0:
        local[r["model"]] = r
for r in rows:
    l = local.get(r["model"], r)
    out.append(f"| {r['model']} | {r['hosts'] or 'local'} | {r['threads']} | {r['pp_tps']:.1f} | {r['pp_tps'] / l['pp_tps']:.2f} | "
               f"{r['tg_tps']:.2f} | {r['tg_tps'] / l['tg_tps']:.2f} | {r['pp_bytes_to_servers_per_token']:.0f} | "
               f"{r['pp_bytes_from_servers_per_token']:.0f} | {r['tg_bytes_to_servers_per_token']:.0f} | "
               f"{r['tg_bytes_from_servers_per_token']:.0f} |")
open(sys.argv[3], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
log "wrote $md and $json"
