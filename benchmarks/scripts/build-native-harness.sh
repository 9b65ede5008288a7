#!/usr/bin/env bash
# Builds benchmarks/native/llama-bench-compatible.cpp, the C++ twin of dev.bloom4j.benchmarks.LlamaBenchCompatible,
# against the libbloom.so the Maven build made (or $BLOOM4J_LIBRARY_PATH), into
# benchmarks/target/native/llama-bench-compatible, with that library's directory as its run path. Prints the
# program's path on stdout.
#
#   benchmarks/scripts/build-native-harness.sh [path/to/libbloom.so]
#
# Needs g++ (C++17) and a built libbloom.so: ./mvnw package -pl bindings (any profile) makes one under
# bindings/target/classes/native/linux-x86_64/<variant>/.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
log() { echo "build-native-harness: $*" >&2; }

command -v g++ >/dev/null || { log "error: g++ is required (apt-get install g++)"; exit 1; }
lib=${1:-${BLOOM4J_LIBRARY_PATH:-}}
if [[ -z $lib ]]; then
    # The variant the Java loader picks: native when present (-Pnative), else the best one this CPU runs that the
    # build holds.
    for variant in native $(cmake -DBLOOM_RUNNABLE=ON -P "$repo/cmake/cpu-variants.cmake"); do
        candidate=$repo/bindings/target/classes/native/linux-x86_64/$variant/libbloom.so
        if [[ -f $candidate ]]; then
            lib=$candidate
            break
        fi
    done
fi
[[ -n $lib && -f $lib ]] || { log "error: no libbloom.so (looked at ${lib:-bindings/target/classes/native/linux-x86_64/*/}); build it with ./mvnw package -pl bindings"; exit 1; }
lib=$(readlink -f "$lib")

out=$repo/benchmarks/target/native/llama-bench-compatible
mkdir -p "$(dirname "$out")"
# The library is linked by path, so its file name needs no lib*.so convention and no SONAME.
g++ -std=c++17 -O2 -Wall -Wextra -I "$repo/native/include" "$repo/benchmarks/native/llama-bench-compatible.cpp" \
    "$lib" -Wl,-rpath,"$(dirname "$lib")" -o "$out"
log "built $out against $lib"
echo "$out"
