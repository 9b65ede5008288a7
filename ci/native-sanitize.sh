#!/usr/bin/env bash
# Runs all native C++ tests (ctest: native/tests/test-*.cpp) under AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer: builds libbloom, ggml and the tests with gcc's -fsanitize=address,undefined in a build
# directory of its own (not Maven's), from the same pinned ggml source as the normal build (cmake/ggml.cmake), with
# the packaged CPU baseline (x86-64-v3). Fails on a failing test or on any sanitizer report, even one in a test
# that otherwise passed. ~3 min on 2 idle cores (2 min building, most of it ggml's CPU backend; 40 s of tests).
#
# UBSan findings abort (-fno-sanitize-recover=undefined). One UBSan check is off for ggml's own code (it stays on for
# bloom's): signed-integer-overflow, because gguf.cpp's element-count guard calls ggml_nelements (ne0*ne1*ne2*ne3 in
# int64_t) before checking that the product fits, and test-gguf's hostile files overflow it there (bloom's reader
# checks sizes itself). native/fuzz/CMakeLists.txt turns off four more for clang; with gcc and these tests none of
# them fires (gcc has no "function" check, and its pointer-overflow check does not flag ggml_graph_nbytes's
# offsets from a null pointer), so they stay on.
#
# Environment (all optional):
#   BLOOM_SANITIZE_BUILD_DIR  build directory (default build/asan)
#   BLOOM_SANITIZE_JOBS       parallel compile jobs (default: number of cores)
#   BLOOM_SANITIZE_TESTS      ctest -R regex of the tests to run (default: all)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

log() { echo "native-sanitize: $*" >&2; }

dir=${BLOOM_SANITIZE_BUILD_DIR:-build/asan}
jobs=${BLOOM_SANITIZE_JOBS:-$(nproc)}
tests=${BLOOM_SANITIZE_TESTS:-.}
start=$SECONDS

mkdir -p "$dir"
dir=$(readlink -f "$dir")

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Applied to ggml's targets once they exist (after the top-level CMakeLists.txt has run), by target name as in
# native/fuzz/CMakeLists.txt; CMAKE_PROJECT_bloom4j_INCLUDE runs it in bloom4j's project() and not in ggml's.
cat >"$dir/sanitize-ggml.cmake" <<'EOF'
function(bloom_sanitize_ggml_exclusions)
    foreach (t ggml-base ggml-cpu)
        if (TARGET ${t})
            set_property(TARGET ${t} APPEND PROPERTY COMPILE_OPTIONS -fno-sanitize=signed-integer-overflow)
        else()
            message(FATAL_ERROR "native-sanitize: no target ${t} to apply the ggml UBSan exclusions to")
        endif()
    endforeach()
endfunction()
cmake_language(DEFER CALL bloom_sanitize_ggml_exclusions)
EOF

launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# No RPC backend: test-offload-rpc's lost-server case leaks the model on purpose (ggml cannot free what a dead
# connection holds), which LeakSanitizer would report; it runs in the normal build's ctest.
# -O1: ASan's documentation asks for -O1 or higher; it keeps stacks readable and compiles faster than -O2. No NDEBUG,
# so that assert() in ggml and bloom checks too.
log "configuring in $dir (-O1 -g, x86-64-v3, $sanitize)"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DBLOOM_CPU_VARIANT=x86-64-v3 -DBLOOM_BUILD_TESTS=ON \
    -DBLOOM_CUDA=OFF -DBLOOM_RPC=OFF \
    "-DCMAKE_C_FLAGS=$sanitize" "-DCMAKE_CXX_FLAGS=$sanitize" \
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" \
    "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" \
    "-DCMAKE_PROJECT_bloom4j_INCLUDE=$dir/sanitize-ggml.cmake" \
    "${launcher[@]}" >"$dir/configure.log" 2>&1 ||
    { tail -n 40 "$dir/configure.log" >&2; log "configuring failed (full log: $dir/configure.log)"; exit 1; }

log "building libbloom and the tests with $jobs jobs"
cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1 ||
    { grep -E 'error|Error' "$dir/build.log" | head -n 40 >&2; tail -n 20 "$dir/build.log" >&2
      log "building failed (full log: $dir/build.log)"; exit 1; }
log "built in $((SECONDS - start)) s"

# halt_on_error: the first report ends the test; detect_leaks: LeakSanitizer at exit (the default on x86-64 Linux,
# named to be explicit). A caller's ASAN_OPTIONS / UBSAN_OPTIONS come after ours and win.
asan="detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1"
export ASAN_OPTIONS="$asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

tests_start=$SECONDS
set +e
(cd "$dir" && ctest --output-on-failure --timeout 900 -R "$tests") 2>&1 | tee "$dir/ctest.log"
rc=${PIPESTATUS[0]}
set -e
log "tests ran in $((SECONDS - tests_start)) s; total $((SECONDS - start)) s"

# A report is a failure even where the test's exit status did not show it (a report in a child process, say):
# ctest keeps every test's output, passing ones included, in LastTest.log.
full=$dir/Testing/Temporary/LastTest.log
pattern='(ERROR|WARNING): (AddressSanitizer|LeakSanitizer)|runtime error:'
if grep -qE "$pattern" "$full" "$dir/ctest.log"; then
    grep -nE "$pattern" "$full" "$dir/ctest.log" | head -n 20 >&2
    log "sanitizer reports above (full output: $full)"
    exit 1
fi
if [[ $rc -ne 0 ]]; then
    log "tests failed (full log: $dir/ctest.log)"
    exit "$rc"
fi
log "all native tests pass under ASan + UBSan"
