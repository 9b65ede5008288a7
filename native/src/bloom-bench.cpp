#include "bloom-bench.h"

#include "bloom-error.h"
#include "bloom-model.h"

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <chrono>
#include <thread>
#include <vector>

namespace bloom {

namespace {

// One device's backend, a context of tensors allocated on it, and a graph to time.
class bench_run {
public:
    bench_run(int32_t device, int32_t n_threads) {
        if (device < 0 || size_t(device) >= ggml_backend_dev_count()) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "device index %d is out of range [0, %zu)", device, ggml_backend_dev_count());
        }
        if (n_threads < 0) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "n_threads must be >= 0 (0 = all cores), not %d", n_threads);
        }
        dev_ = ggml_backend_dev_get(size_t(device));
        backend_ = ggml_backend_dev_init(dev_, nullptr);
        if (!backend_) {
            fail(BLOOM_ERR_INTERNAL, "cannot initialise device %s", ggml_backend_dev_name(dev_));
        }
        if (ggml_backend_is_cpu(backend_)) {
            ggml_backend_cpu_set_n_threads(backend_, n_threads > 0 ? n_threads : int(std::thread::hardware_concurrency()));
        }
        ggml_init_params ip = { 16 * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, true };
        ctx_ = ggml_init(ip);
    }
    ~bench_run() {
        if (buf_) ggml_backend_buffer_free(buf_);
        if (ctx_) ggml_free(ctx_);
        if (backend_) ggml_backend_free(backend_);
    }
    bench_run(const bench_run &) = delete;
    bench_run & operator=(const bench_run &) = delete;

    ggml_context * ctx() { return ctx_; }

    // Allocates every tensor made so far on the device.
    void allocate(const char * what) {
        buf_ = ggml_backend_alloc_ctx_tensors(ctx_, backend_);
        if (!buf_) {
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the %s on %s", what, ggml_backend_dev_name(dev_));
        }
    }

    // Mean seconds of one evaluation of out's graph over reps runs, after a warm-up run.
    double time(ggml_tensor * out, int32_t reps) {
        if (reps < 1) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "reps must be at least 1, not %d", reps);
        }
        ggml_cgraph * gf = ggml_new_graph(ctx_);
        ggml_build_forward_expand(gf, out);
        // The graph's own intermediate tensors (none for these single ops beyond out) are in the context already.
        compute(gf);
        const auto t0 = std::chrono::steady_clock::now();
        for (int32_t i = 0; i < reps; ++i) {
            compute(gf);
        }
        const auto t1 = std::chrono::steady_clock::now();
        return std::chrono::duration<double>(t1 - t0).count() / reps;
    }

private:
    void compute(ggml_cgraph * gf) {
        if (ggml_backend_graph_compute(backend_, gf) != GGML_STATUS_SUCCESS) {
            fail(BLOOM_ERR_INTERNAL, "the benchmark graph failed on %s", ggml_backend_dev_name(dev_));
        }
        ggml_backend_synchronize(backend_);
    }

    ggml_backend_dev_t    dev_     = nullptr;
    ggml_backend_t        backend_ = nullptr;
    ggml_context *        ctx_     = nullptr;
    ggml_backend_buffer_t buf_     = nullptr;
};

// Fills t with small pseudo-random values (converted or quantized to its type); the values do not change the
// speed of these kernels, but zeros could (denormal-free, no early exits).
void fill(ggml_tensor * t) {
    const int64_t n = ggml_nelements(t), ne0 = t->ne[0];
    std::vector<float> v(static_cast<size_t>(n));
    uint32_t x = 2463534242u;
    for (float & f : v) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        f = float(int32_t(x % 2001u) - 1000) * 1e-3f;
    }
    if (t->type == GGML_TYPE_F32) {
        ggml_backend_tensor_set(t, v.data(), 0, ggml_nbytes(t));
        return;
    }
    std::vector<uint8_t> bytes(ggml_nbytes(t));
    ggml_quantize_init(t->type);
    ggml_quantize_chunk(t->type, v.data(), bytes.data(), 0, n / ne0, ne0, nullptr);
    ggml_backend_tensor_set(t, bytes.data(), 0, bytes.size());
}

} // namespace

double bench_matmul(int32_t device, int64_t m, int64_t n, int64_t k, int32_t dtype, int32_t n_threads, int32_t reps) {
    const ggml_type type = ggml_type_of(dtype);
    if (type == GGML_TYPE_COUNT) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "dtype %d is not a bloom_dtype", dtype);
    }
    if (m < 1 || n < 1 || k < 1 || m > (1 << 20) || n > (1 << 20) || k > (1 << 20)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "matmul shape %lld x %lld x %lld: each dimension must be in [1, 2^20]",
             (long long) m, (long long) n, (long long) k);
    }
    if (k % ggml_blck_size(type) != 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "k = %lld is not a multiple of %s's block size %lld", (long long) k,
             ggml_type_name(type), (long long) ggml_blck_size(type));
    }
    bench_run run(device, n_threads);
    ggml_tensor * w = ggml_new_tensor_2d(run.ctx(), type, k, m);           // weights: m rows of k
    ggml_tensor * x = ggml_new_tensor_2d(run.ctx(), GGML_TYPE_F32, k, n);  // activations: n columns of k
    ggml_tensor * y = ggml_mul_mat(run.ctx(), w, x);                       // [m, n]
    run.allocate("matmul operands");
    fill(w);
    fill(x);
    return run.time(y, reps);
}

double bench_copy(int32_t device, int64_t n_bytes, int32_t n_threads, int32_t reps) {
    if (n_bytes < 4 || n_bytes > (int64_t(1) << 40) || n_bytes % 4 != 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "copy size %lld: must be a multiple of 4 in [4, 2^40]", (long long) n_bytes);
    }
    bench_run run(device, n_threads);
    ggml_tensor * src = ggml_new_tensor_1d(run.ctx(), GGML_TYPE_F32, n_bytes / 4);
    ggml_tensor * dst = ggml_new_tensor_1d(run.ctx(), GGML_TYPE_F32, n_bytes / 4);
    ggml_tensor * cpy = ggml_cpy(run.ctx(), src, dst);
    run.allocate("copy buffers");
    fill(src);
    return run.time(cpy, reps);
}

} // namespace bloom
