// Reference measurements for the benchmarks: what a device achieves on one plain matrix product and on one
// device-to-device copy, through the same ggml backends that run BLOOM, so that a model's TFLOP/s and GB/s can be
// set against what this machine actually reaches (not only the datasheet).
#pragma once

#include "bloom.h"

#include <cstdint>

namespace bloom {

// Mean seconds of one product [m x k] x [k x n] with the weights in `type` (a ggml type: f32, f16, bf16, q8_0,
// q4_0, ...) and f32 activations, over `reps` timed runs after one warm-up, on device `device` (a
// bloom_device_get_info index). Throws bloom::error.
double bench_matmul(int32_t device, int64_t m, int64_t n, int64_t k, int32_t dtype, int32_t n_threads, int32_t reps);

// Mean seconds of one copy of n_bytes between two buffers of the device, over `reps` timed runs after a warm-up.
double bench_copy(int32_t device, int64_t n_bytes, int32_t n_threads, int32_t reps);

} // namespace bloom
