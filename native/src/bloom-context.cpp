#include "bloom-context.h"

#include "bloom-error.h"
#include "bloom-log.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>

namespace bloom {

namespace {

// Whether a GPU has a flash-attention kernel for this model's head size with a cache of this type.
bool gpu_supports_flash_attn(const model & m, ggml_backend_dev_t gpu, ggml_type t) {
    const int64_t d = m.hp.head_dim(), H = m.hp.n_head, n_kv = 256;
    ggml_init_params ip = { 8 * ggml_tensor_overhead(), nullptr, true };
    ggml_context * ctx = ggml_init(ip);
    if (!ctx) return false;
    ggml_tensor * q = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, d, 1, H);
    ggml_tensor * k = ggml_new_tensor_3d(ctx, t, d, n_kv, H);
    ggml_tensor * v = ggml_new_tensor_3d(ctx, t, d, n_kv, H);
    ggml_tensor * mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, n_kv, 1);
    ggml_tensor * op = ggml_flash_attn_ext(ctx, q, k, v, mask, 1.0f, 8.0f, 0.0f);
    const bool ok = supports_op_in(gpu, ggml_backend_dev_buffer_type(gpu), op, {q, k, v, mask});
    ggml_free(ctx);
    return ok;
}

} // namespace

context::guard::guard(const context & c) : c_(c) {
    if (c_.busy_.exchange(true, std::memory_order_acquire)) {
        fail(BLOOM_ERR_BUSY, "this context is in use by another thread; a context serves one thread at a time");
    }
}

context::guard::~guard() { c_.busy_.store(false, std::memory_order_release); }

context::context(const model & m, const bloom_context_params & params) : model_(m), params_(params) {
    // A failure part-way (no memory for the cache, say) must not leak what was already made: the destructor does
    // not run for a constructor that throws.
    try {
        init();
    } catch (...) {
        release();
        throw;
    }
}

void context::init() {
    const model & m = model_;
    const hparams & hp = m.hp;
    if (params_.n_ctx == 0) {
        params_.n_ctx = uint32_t(hp.n_ctx_train);
    }
    if (params_.n_ctx > (1u << 24)) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_ctx %u is too large", params_.n_ctx);
    }
    if (params_.n_batch == 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_batch must be at least 1");
    }
    if (params_.n_batch > params_.n_ctx) {
        params_.n_batch = params_.n_ctx;
    }
    if (params_.n_threads < 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_threads must be >= 0 (0 = all cores), not %d", params_.n_threads);
    }
    if (params_.n_threads == 0) {
        params_.n_threads = int32_t(std::max(1u, std::thread::hardware_concurrency()));
    }

    backend_ = ggml_backend_cpu_init();
    if (!backend_) {
        fail(BLOOM_ERR_INTERNAL, "cannot initialise ggml's CPU backend");
    }
    ggml_backend_cpu_set_n_threads(backend_, params_.n_threads);
    if (params_.n_threads > 1) {
        // One pool for the context's lifetime: without it ggml starts and joins its workers on every graph, once
        // per generated token, which on a busy 2-core machine cost more than the tiny graphs themselves (see the
        // commit that added it). ggml's default polling (50) keeps the workers spinning briefly between graphs,
        // which the token-by-token decode loop needs; they sleep after that.
        ggml_threadpool_params tpp = ggml_threadpool_params_default(params_.n_threads);
        threadpool_ = ggml_threadpool_new(&tpp);
        if (!threadpool_) {
            fail(BLOOM_ERR_INTERNAL, "cannot start a pool of %d threads", params_.n_threads);
        }
        ggml_backend_cpu_set_threadpool(backend_, threadpool_);
    }

    // KV cache: f32 by default for f32 weights, which the f32 reference checks to 1e-4, f16 otherwise, as llama.cpp
    // keeps it: half the memory and bandwidth, and ggml's fastest attention kernels read f16.
    if (params_.type_kv == BLOOM_KV_AUTO) {
        params_.type_kv = m.weight_dtype == BLOOM_DTYPE_F32 ? BLOOM_KV_F32 : BLOOM_KV_F16;
    }
    if (params_.type_kv != BLOOM_KV_F32 && params_.type_kv != BLOOM_KV_F16) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "type_kv %d is not a bloom_kv_type (0 auto, 1 f32, 2 f16)", params_.type_kv);
    }
    const ggml_type kv_type = params_.type_kv == BLOOM_KV_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    for (ggml_backend_dev_t g : m.gpus) {
        gpu_backends_.push_back(ggml_backend_dev_init(g, nullptr));
        if (!gpu_backends_.back()) {
            gpu_backends_.pop_back();
            fail(BLOOM_ERR_INTERNAL, "cannot initialise the %s backend", ggml_backend_dev_name(g));
        }
    }
    // The cache holds n_ctx positions; on a GPU its allocation is rounded up to whole tiles of 256, which GPU
    // flash-attention kernels read (the extra positions are never written and always masked).
    const uint32_t n_alloc = m.gpus.empty() ? params_.n_ctx : GGML_PAD(params_.n_ctx, kv_.n_pad);
    // Flash attention takes the ALiBi distances as f16, exact up to 2048: on by default while every distance is,
    // and where every GPU (if any) has a kernel for this head size and cache type.
    const bool exact_distances = params_.n_ctx <= 2049;  // every ALiBi distance (< n_ctx) exact in f16
    if (params_.flash_attn == BLOOM_FLASH_ATTN_AUTO) {
        ggml_backend_dev_t lacking = nullptr;  // asked only where the answer matters
        for (ggml_backend_dev_t g : m.gpus) {
            if (exact_distances && !lacking && !gpu_supports_flash_attn(m, g, kv_type)) lacking = g;
        }
        params_.flash_attn = exact_distances && !lacking ? BLOOM_FLASH_ATTN_ON : BLOOM_FLASH_ATTN_OFF;
        if (exact_distances && lacking) {
            BLOOM_LOG_INFO("context: %s has no flash-attention kernel for head size %d: attention by matrix products",
                           ggml_backend_dev_name(lacking), hp.head_dim());
        }
    }
    if (params_.flash_attn != BLOOM_FLASH_ATTN_ON && params_.flash_attn != BLOOM_FLASH_ATTN_OFF) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "flash_attn %d is not a bloom_flash_attn (0 auto, 1 off, 2 on)",
             params_.flash_attn);
    }
    if (params_.flash_attn == BLOOM_FLASH_ATTN_ON && !exact_distances) {
        BLOOM_LOG_WARN("context: flash attention with n_ctx %u rounds ALiBi distances above 2048 to f16 (as llama.cpp "
                       "does); set flash_attn off for exact distances", params_.n_ctx);
    }
    kv_.n_ctx = n_alloc;
    kv_.flash_attn = params_.flash_attn == BLOOM_FLASH_ATTN_ON;
    // Each layer's cache lives where its weights are: on its GPU for offloaded layers, else in host memory.
    const size_t n_stores = 1 + m.gpus.size();
    ggml_init_params ip = { ggml_tensor_overhead() * size_t(2 * hp.n_layer + 1), nullptr, true };
    std::vector<int> layers_in(n_stores, 0);
    for (size_t i = 0; i < n_stores; ++i) {
        ctx_kv_.push_back(ggml_init(ip));
        if (!ctx_kv_.back()) fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the KV cache's metadata");
    }
    for (int il = 0; il < hp.n_layer; ++il) {
        const ggml_backend_dev_t d = m.layer_dev.empty() ? nullptr : m.layer_dev[size_t(il)];
        const size_t store = d ? 1 + size_t(std::find(m.gpus.begin(), m.gpus.end(), d) - m.gpus.begin()) : 0;
        ++layers_in[store];
        ggml_context * c = ctx_kv_[store];
        kv_.k.push_back(ggml_new_tensor_2d(c, kv_type, hp.n_embd, n_alloc));
        kv_.v.push_back(kv_.flash_attn ? ggml_new_tensor_2d(c, kv_type, hp.n_embd, n_alloc)
                                       : ggml_new_tensor_2d(c, kv_type, n_alloc, hp.n_embd));
    }
    const double layer_mib = 2.0 * hp.n_embd * n_alloc * ggml_type_size(kv_type) / 1048576.0;
    std::string placed;  // "2 on CUDA0, 1 on CUDA1" for the log
    buf_kv_.assign(n_stores, nullptr);
    for (size_t store = 0; store < n_stores; ++store) {
        if (layers_in[store] == 0) continue;
        ggml_backend_t b = store == 0 ? backend_ : gpu_backends_[store - 1];
        buf_kv_[store] = ggml_backend_alloc_ctx_tensors(ctx_kv_[store], b);
        if (!buf_kv_[store]) {
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate a KV cache of %u tokens (%.1f MiB) on %s", params_.n_ctx,
                 layer_mib * layers_in[store], store == 0 ? "the CPU" : ggml_backend_dev_name(m.gpus[store - 1]));
        }
        ggml_backend_buffer_clear(buf_kv_[store], 0);
        if (store > 0) {
            placed += std::string(", ") + std::to_string(layers_in[store]) + " layers on " +
                      ggml_backend_dev_name(m.gpus[store - 1]);
        }
    }

    graph_meta_.resize(ggml_tensor_overhead() * graph_max_nodes(m) + ggml_graph_overhead_custom(graph_max_nodes(m), false));
    // The scheduler runs each op where its weights are and copies activations between devices; with op_offload,
    // products of large batches with CPU-resident weights (the embedding table) may run on the GPU too.
    std::vector<ggml_backend_t> backends(gpu_backends_);
    backends.push_back(backend_);  // the CPU last: ggml's scheduler wants it there, as the fallback
    sched_ = ggml_backend_sched_new(backends.data(), nullptr, int(backends.size()), graph_max_nodes(m), false,
                                    !gpu_backends_.empty());

    // Reserve the common worst case now (a full batch against a full cache, logits of its last token), so an
    // undersized machine fails here with a clear error instead of in the middle of a generation. Logits for every
    // position (n_batch x n_vocab floats, 0.5 GB for real BLOOM at n_batch 512) are not reserved: the scheduler
    // grows its buffers on the rare decode that asks for them.
    ggml_init_params gp = { graph_meta_.size(), graph_meta_.data(), true };
    ggml_context * ctx0 = ggml_init(gp);
    graph_io io;
    const int n_tok = int(params_.n_batch);
    ggml_cgraph * gf = build_graph(ctx0, m, kv_, io, n_tok, int(params_.n_ctx) - n_tok, false);
    const bool ok = ggml_backend_sched_reserve(sched_, gf);
    ggml_free(ctx0);
    if (!ok) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot reserve compute buffers for n_batch %u, n_ctx %u", params_.n_batch,
             params_.n_ctx);
    }
    BLOOM_LOG_INFO("context: n_ctx %u, n_batch %u, %d threads, KV cache %s %.1f MiB%s, flash attention %s",
                   params_.n_ctx, params_.n_batch, params_.n_threads, ggml_type_name(kv_type),
                   layer_mib * hp.n_layer, placed.c_str(), kv_.flash_attn ? "on" : "off");
}

context::~context() { release(); }

void context::release() {
    forget_graph();
    if (sched_) ggml_backend_sched_free(sched_);
    for (ggml_backend_buffer_t b : buf_kv_) {
        if (b) ggml_backend_buffer_free(b);
    }
    for (ggml_context * c : ctx_kv_) {
        if (c) ggml_free(c);
    }
    for (ggml_backend_t b : gpu_backends_) ggml_backend_free(b);
    if (backend_) ggml_backend_free(backend_);
    if (threadpool_) ggml_threadpool_free(threadpool_);
    sched_ = nullptr;
    buf_kv_.clear();
    ctx_kv_.clear();
    gpu_backends_.clear();
    backend_ = nullptr;
    threadpool_ = nullptr;
}

const float * context::last_logits() const {
    if (n_logit_rows_ == 0) {
        return nullptr;
    }
    return logits_.data() + (n_logit_rows_ - 1) * size_t(model_.hp.n_vocab);
}

void context::decode(const int32_t * tokens, size_t n_tokens, bool all_logits) {
    const int32_t n_vocab = model_.hp.n_vocab;
    if (n_tokens == 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "no tokens to decode");
    }
    if (!tokens) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "tokens is NULL");
    }
    for (size_t i = 0; i < n_tokens; ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "token id %d at index %zu is out of range [0, %d)", tokens[i], i, n_vocab);
        }
    }
    if (n_tokens > size_t(params_.n_ctx) - tokens_.size()) {
        fail(BLOOM_ERR_CONTEXT_FULL, "%zu tokens do not fit: the context holds %u and %zu are in use", n_tokens,
             params_.n_ctx, tokens_.size());
    }
    const size_t rows = all_logits ? n_tokens : 1;
    logits_.resize(rows * size_t(n_vocab));
    n_logit_rows_ = 0;
    for (size_t done = 0; done < n_tokens;) {
        const int n = int(std::min(size_t(params_.n_batch), n_tokens - done));
        const bool last = done + size_t(n) == n_tokens;
        float * out = all_logits ? logits_.data() + done * size_t(n_vocab) : (last ? logits_.data() : nullptr);
        eval_chunk(tokens + done, n, all_logits, out);
        done += size_t(n);
    }
    n_logit_rows_ = rows;
}

void context::eval_chunk(const int32_t * tokens, int n_tokens, bool all_logits, float * logits_out) {
    const int n_past = int(tokens_.size());
    const int n_kv   = kv_.n_kv(n_past + n_tokens);

    // The previous graph serves again when it has the same shape: token after token, a decode graph stays the same
    // while n_kv does (256 positions), as in llama.cpp. Skipping the build and the scheduler's split and allocation
    // saves ~4 M instructions of host time per token for 24 layers (callgrind, bloom-560m), which a GPU, whose
    // decode step is short, cannot hide. Without flash attention a batch of several tokens writes V through a view
    // at n_past, which the key then includes.
    const bool holds_n_past = !kv_.flash_attn && n_tokens > 1;
    const graph_key key = { n_tokens, n_kv, all_logits, holds_n_past ? n_past : -1 };
    if (!graph_ || !(key == graph_key_)) {
        forget_graph();
        ggml_init_params gp = { graph_meta_.size(), graph_meta_.data(), true };
        graph_ctx_ = ggml_init(gp);
        ggml_cgraph * gf = build_graph(graph_ctx_, model_, kv_, graph_io_, n_tokens, n_past, all_logits);
        ggml_backend_sched_reset(sched_);
        if (!ggml_backend_sched_alloc_graph(sched_, gf)) {
            forget_graph();
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the compute graph for %d tokens", n_tokens);
        }
        graph_ = gf;
        graph_key_ = key;
        ++n_graph_builds_;
    }
    const graph_io & io = graph_io_;

    ggml_backend_tensor_set(io.tokens, tokens, 0, size_t(n_tokens) * sizeof(int32_t));
    kv_rows_.resize(size_t(n_tokens));
    for (int t = 0; t < n_tokens; ++t) kv_rows_[size_t(t)] = n_past + t;
    ggml_backend_tensor_set(io.kv_rows, kv_rows_.data(), 0, kv_rows_.size() * sizeof(int64_t));
    if (io.v_elems) {
        const int64_t E = model_.hp.n_embd, n_alloc = int64_t(kv_.n_ctx);
        v_elems_.resize(size_t(E));
        for (int64_t e = 0; e < E; ++e) v_elems_[size_t(e)] = e * n_alloc + n_past;
        ggml_backend_tensor_set(io.v_elems, v_elems_.data(), 0, v_elems_.size() * sizeof(int64_t));
    }
    // ALiBi bias source: -(distance) for visible keys; ggml scales it by each head's slope.
    mask_.resize(size_t(n_kv) * size_t(n_tokens));
    for (int t = 0; t < n_tokens; ++t) {
        const int pos = n_past + t;
        float * row = mask_.data() + size_t(t) * size_t(n_kv);
        for (int j = 0; j < n_kv; ++j) {
            row[j] = j <= pos ? -float(pos - j) : -INFINITY;
        }
    }
    if (io.mask->type == GGML_TYPE_F16) {
        mask_f16_.resize(mask_.size());
        ggml_fp32_to_fp16_row(mask_.data(), mask_f16_.data(), int64_t(mask_.size()));
        ggml_backend_tensor_set(io.mask, mask_f16_.data(), 0, mask_f16_.size() * sizeof(ggml_fp16_t));
    } else {
        ggml_backend_tensor_set(io.mask, mask_.data(), 0, mask_.size() * sizeof(float));
    }

    const ggml_status st = ggml_backend_sched_graph_compute(sched_, graph_);
    if (st != GGML_STATUS_SUCCESS) {
        forget_graph();
        fail(BLOOM_ERR_INTERNAL, "graph computation failed with ggml status %d", int(st));
    }
    if (logits_out) {
        ggml_backend_tensor_get(io.logits, logits_out, 0, ggml_nbytes(io.logits));
    }
    tokens_.insert(tokens_.end(), tokens, tokens + n_tokens);
}

void context::forget_graph() {
    if (graph_ctx_) ggml_free(graph_ctx_);
    graph_ctx_ = nullptr;
    graph_ = nullptr;
    graph_io_ = {};
}

void context::truncate(uint32_t n_keep) {
    if (n_keep > tokens_.size()) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "cannot keep %u tokens: only %zu are cached", n_keep, tokens_.size());
    }
    // Entries past n_keep are simply overwritten by later decodes; the mask never lets a query see them.
    tokens_.resize(n_keep);
    n_logit_rows_ = 0;
}

} // namespace bloom
