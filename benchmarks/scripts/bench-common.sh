# Shared by the CPU comparisons with llama.cpp (compare-llama-bench.sh, compare-batched-bench.sh); sourced, never
# run. It defines functions and reads, when they are called, these variables of the sourcing script:
#   repo          the checkout's root
#   raw           a scratch directory for the run's files
#   quiet, max_wait, max_others, attempts   the quiet-machine settings (see the scripts' --help)
# and expects log() and die() to be defined.

# The random-weight shapes `bloom init-random --config NAME` knows, with the disk each needs in GB: the f16
# checkpoint plus the GGUF files (f16 the same again, q8_0 ~ 53 % and q4_0 ~ 28 % of it), rounded up.
declare -A bench_shape_disk_gb=([bloom-560m]=4 [bloom-1b1]=6 [bloom-1b7]=10 [bloom-3b]=17 [bloom-7b1]=40)
bench_types_pattern='^(f16|q8_0|q4_0|bf16|f32|q4_1|q5_0|q5_1|q4_k_m|q5_k_m|q6_k)$'

# The bloom4j cache (BLOOM_CACHE_DIR, else $XDG_CACHE_HOME/bloom4j, else ~/.cache/bloom4j), as the build uses it.
bench_cache_dir() {
    if [[ -n ${BLOOM_CACHE_DIR:-} ]]; then
        echo "$BLOOM_CACHE_DIR"
    elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
        echo "$XDG_CACHE_HOME/bloom4j"
    else
        echo "$HOME/.cache/bloom4j"
    fi
}

# Sets java to a JDK 23+ binary ($JAVA_HOME, else the newest under /usr/lib/jvm) and exports JAVA_HOME to match.
bench_find_java() {
    local candidate f best_feature=0
    java_feature() { "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1; }
    java=""
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java && $(java_feature "$JAVA_HOME/bin/java") -ge 23 ]]; then
        java=$JAVA_HOME/bin/java
    else
        for candidate in /usr/lib/jvm/*/bin/java; do
            [[ -x $candidate ]] || continue
            f=$(java_feature "$candidate")
            if [[ -n $f && $f -ge 23 && $f -gt $best_feature ]]; then
                java=$candidate
                best_feature=$f
            fi
        done
    fi
    [[ -n $java ]] || die "needs a JDK 23+ (set JAVA_HOME, e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$java")")")
    export JAVA_HOME
}

# Checks the tools the measurement itself needs.
bench_check_tools() {
    local tool
    for tool in awk df nproc; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    [[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"
    [[ -r /proc/stat && -r /proc/loadavg && -r /proc/cpuinfo ]] || die "needs Linux /proc (stat, loadavg, cpuinfo)"
}

# bench_make_models DIR MODELS TYPES (comma lists): writes each random-weight checkpoint (f16, seed 1) with
# `bloom init-random` and converts it to each type with `bloom convert`, unless already there; checks the disk
# first. Needs a bloom() function that runs the CLI. The file of model M in type T is $(bench_gguf DIR M T).
bench_make_models() {
    local dir=$1 m t gguf need_gb=0 free_gb
    local -a model_list type_list
    IFS=, read -r -a model_list <<< "$2"
    IFS=, read -r -a type_list <<< "$3"
    mkdir -p "$dir"
    for m in "${model_list[@]}"; do
        [[ -d $dir/$m ]] || need_gb=$((need_gb + ${bench_shape_disk_gb[$m]}))
    done
    free_gb=$(df -Pk "$dir" | awk 'NR == 2 { print int($4 / 1048576) }')
    (( free_gb >= need_gb + 2 )) || die "$dir has ${free_gb} GB free; the models need ~${need_gb} GB (+2 spare)"
    for m in "${model_list[@]}"; do
        if [[ ! -f $dir/$m/config.json ]]; then
            log "writing a random-weight $m checkpoint (f16) into $dir/$m"
            rm -rf "$dir/$m.tmp"
            bloom init-random --config "$m" --out "$dir/$m.tmp" --dtype f16 --seed 1 >&2
            mv "$dir/$m.tmp" "$dir/$m"
        fi
        for t in "${type_list[@]}"; do
            gguf=$(bench_gguf "$dir" "$m" "$t")
            if [[ ! -f $gguf ]]; then
                log "converting $m to $t"
                bloom convert --model "$dir/$m" --out "$gguf.tmp" --type "$t" >&2
                mv "$gguf.tmp" "$gguf"
            fi
        done
    done
}

bench_gguf() { echo "$1/$2-$3.gguf"; }

# Builds llama.cpp's TARGETS from the pinned source the way its README tells users to: CMake's defaults
# (GGML_NATIVE=ON, i.e. -march=native; shared libraries; OpenMP), Release. The build tree is
# <cache>/llama-build-<commit>-defaults[-<tag>]-<cpu key>, the key a hash of this CPU's model name and flags, since
# a -march=native build is for this CPU only. $BENCH_LLAMA_FLAGS, if set, go to CMAKE_C_FLAGS and CMAKE_CXX_FLAGS,
# in a tree of their own named by $BENCH_LLAMA_TAG (required with them). Prints the directory of the programs.
bench_build_llama_defaults() {
    local cache src commit key build jobs=${BLOOM_LLAMA_JOBS:-$(nproc)} flags=${BENCH_LLAMA_FLAGS:-}
    local tag=${BENCH_LLAMA_TAG:-}
    local -a extra=()
    command -v cmake >/dev/null && command -v g++ >/dev/null && command -v flock >/dev/null \
        || die "building llama.cpp needs cmake, g++ and flock (apt-get install cmake g++ util-linux)"
    if [[ -n $flags ]]; then
        [[ -n $tag ]] || die "BENCH_LLAMA_FLAGS needs a BENCH_LLAMA_TAG to name its build tree"
        extra=("-DCMAKE_C_FLAGS=$flags" "-DCMAKE_CXX_FLAGS=$flags")
    fi
    cache=$(bench_cache_dir)
    src=$(cmake -DBLOOM_CACHE_DIR="$cache" -P "$repo/cmake/fetch-llama.cpp.cmake" | tail -n 1)
    [[ -f $src/include/llama.h ]] || die "fetching the pinned llama.cpp did not produce a tree (got '$src')"
    commit=$(sed -n 's/^ *set(BLOOM_GGML_COMMIT "\([0-9a-f]*\)")/\1/p' "$repo/cmake/fetch-llama.cpp.cmake")
    key=$({ grep -m 1 '^model name' /proc/cpuinfo; grep -m 1 '^flags' /proc/cpuinfo; } | sha256sum | cut -c1-12)
    build=$cache/llama-build-$commit-defaults${tag:+-$tag}-$key
    mkdir -p "$build"
    (
        flock 9
        if [[ ! -f $build/CMakeCache.txt ]]; then
            log "configuring llama.cpp $commit with its defaults (GGML_NATIVE=ON)${flags:+ and $flags} in $build"
            cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release "${extra[@]}" -Wno-dev >&2
        fi
        log "building $* with $jobs jobs (up to date after the first time)"
        cmake --build "$build" --target "$@" -j "$jobs" >&2
    ) 9> "$build.lock" || die "the llama.cpp build failed (see above)"
    echo "$build/bin"
}

# ------------------------------------------------------------------ measuring on a shared machine
# Two spinning ggml threads on two cores lose far more than their share when a third process runs, so each run
# waits for a quiet machine and records "others": the cores other processes kept busy while it ran (busy time
# from /proc/stat minus the run's own user+sys time, over the wall time).

bench_load1() { cut -d' ' -f1 /proc/loadavg; }
bench_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# bench_measured OUTPUT COMMAND...: runs the command with stdout to OUTPUT, timing it; prints the cores other
# processes kept busy meanwhile.
bench_measured() {
    local output=$1 times=$raw/times start_busy end_busy start_ns end_ns hz
    shift
    hz=$(getconf CLK_TCK)
    start_busy=$(bench_busy_ticks)
    start_ns=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$times" "$@" > "$output"
    end_ns=$(date +%s%N)
    end_busy=$(bench_busy_ticks)
    awk -v b0="$start_busy" -v b1="$end_busy" -v hz="$hz" -v t0="$start_ns" -v t1="$end_ns" \
        '{ wall = (t1 - t0) / 1e9; others = (b1 - b0) / hz - ($1 + $2); if (others < 0) others = 0;
           printf "%.2f", others / wall }' "$times"
}

# Cores busy over the next 5 s (nothing of ours runs meanwhile, so all of it is other processes).
bench_busy_cores() {
    local b0 b1 hz
    hz=$(getconf CLK_TCK)
    b0=$(bench_busy_ticks)
    sleep 5
    b1=$(bench_busy_ticks)
    awk -v b0="$b0" -v b1="$b1" -v hz="$hz" 'BEGIN { printf "%.2f", (b1 - b0) / hz / 5 }'
}

bench_above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

bench_wait_quiet() {
    [[ $quiet != 0 ]] || return 0
    local deadline=$((SECONDS + max_wait * 60)) busy
    while busy=$(bench_busy_cores) && bench_above "$busy" "$quiet"; do
        if (( SECONDS >= deadline )); then
            log "other processes still keep $busy cores busy after $max_wait minutes; measuring anyway"
            return 0
        fi
        sleep 10
    done
}

# bench_measure NAME OUTPUT COMMAND...: waits for a quiet machine, runs, and reruns while others interfered;
# prints the others figure of the kept run.
bench_measure() {
    local name=$1 output=$2 attempt others
    shift 2
    for ((attempt = 1; attempt <= attempts; attempt++)); do
        bench_wait_quiet
        log "$name (attempt $attempt, load $(bench_load1))"
        others=$(bench_measured "$output" "$@")
        bench_above "$others" "$max_others" || break
        log "$name: other processes kept $others cores busy meanwhile"
    done
    echo "$others"
}

# Validates the quiet-machine settings.
bench_check_quiet_settings() {
    local v
    [[ $attempts =~ ^[1-9][0-9]*$ ]] || die "--attempts must be a positive integer, got '$attempts'"
    [[ $max_wait =~ ^[0-9]+$ ]] || die "--max-wait must be a whole number of minutes, got '$max_wait'"
    for v in "$quiet" "$max_others"; do
        [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--quiet and --max-others take a number of cores, got '$v'"
    done
}

# ------------------------------------------------------------------ describing the run
bench_cpu_model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1; }

bench_commit() {
    local commit
    commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
    git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
    echo "$commit"
}

# The CPU flags that matter to ggml's kernels.
bench_cpu_flags() {
    awk '/^flags/ { n = split($0, f, " "); s = "";
        for (i = 1; i <= n; i++) if (f[i] ~ /^(avx2|fma|f16c|avx512f|avx512_bf16|avx512_vnni|amx_tile)$/) s = s (s ? " " : "") f[i];
        print s; exit }' /proc/cpuinfo
}

bench_memory() { awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo; }

# The llama.cpp commit the build pins (cmake/fetch-llama.cpp.cmake).
bench_llama_commit() {
    cat "$repo"/cmake/*.cmake | sed -n 's/^ *set(BLOOM_GGML_COMMIT "\([0-9a-f]*\)")/\1/p' | head -n 1
}
