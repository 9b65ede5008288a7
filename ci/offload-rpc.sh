#!/usr/bin/env bash
# Runs the GPU offload code paths without a GPU: builds the runtime with ggml's RPC backend (-DBLOOM_GGML_RPC=ON, a
# tests-only option) and runs native/tests/test-offload-rpc, which serves two CPU devices from child processes over
# loopback TCP, where ggml reports them as GPUs, and checks that every placement of the layers computes the CPU's
# logits. The packaged libraries never contain the RPC backend; this build is separate from Maven's.
#
# Environment (optional): BLOOM_RPC_BUILD_DIR (default build/offload-rpc), BLOOM_RPC_JOBS (default: cores).
# Uses the pinned ggml that the Maven build fetched (or fetches it: cmake/ggml.cmake).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

dir=${BLOOM_RPC_BUILD_DIR:-build/offload-rpc}
jobs=${BLOOM_RPC_JOBS:-$(nproc)}

echo "offload-rpc: building test-offload-rpc in $dir" >&2
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBLOOM_GGML_RPC=ON -DBLOOM_BUILD_TESTS=ON >/dev/null
cmake --build "$dir" --target test-offload-rpc -j "$jobs" >/dev/null
(cd "$dir" && ctest -R '^test-offload-rpc$' --output-on-failure)
