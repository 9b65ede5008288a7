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
    // With layers on RPC servers every ggml call that may reach them runs on the executor (bloom-rpc.h).
    remote_calls_ = std::make_unique<rpc::executor>(m.remote);
    try {
        remote_calls_->run([this] { init(); });
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
    if (params_.n_seq_max < 1 || params_.n_seq_max > BLOOM_MAX_SEQ) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_seq_max must be in [1, %d], not %u", BLOOM_MAX_SEQ, params_.n_seq_max);
    }
    cells_.assign(params_.n_ctx, kv_cell{});
    seq_next_.assign(params_.n_seq_max, 0);
    seq_last_cell_.assign(params_.n_seq_max, -1);
    claimed_.assign(params_.n_seq_max, false);

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

    kv_.max_groups = kv_.flash_attn ? int(std::min<uint32_t>(params_.n_seq_max, k_max_attn_groups)) : 0;
    const size_t max_nodes = graph_max_nodes(m, kv_);
    graph_meta_.resize(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false));
    // The scheduler runs each op where its weights are and copies activations between devices; with op_offload,
    // products of large batches with CPU-resident weights (the embedding table) may run on the GPU too.
    std::vector<ggml_backend_t> backends(gpu_backends_);
    backends.push_back(backend_);  // the CPU last: ggml's scheduler wants it there, as the fallback
    sched_ = ggml_backend_sched_new(backends.data(), nullptr, int(backends.size()), max_nodes, false,
                                    !gpu_backends_.empty());

    // Reserve the common worst case now (a full batch against a full cache, logits of its last token), so an
    // undersized machine fails here with a clear error instead of in the middle of a generation. Logits for every
    // position (n_batch x n_vocab floats, 0.5 GB for real BLOOM at n_batch 512) are not reserved: the scheduler
    // grows its buffers on the rare decode that asks for them.
    ggml_init_params gp = { graph_meta_.size(), graph_meta_.data(), true };
    ggml_context * ctx0 = ggml_init(gp);
    graph_io io;
    const graph_shape worst = { int(params_.n_batch), kv_.n_kv(int(params_.n_ctx)), 1, -1, {} };
    ggml_cgraph * gf = build_graph(ctx0, m, kv_, io, worst);
    const bool ok = ggml_backend_sched_reserve(sched_, gf);
    ggml_free(ctx0);
    if (!ok) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot reserve compute buffers for n_batch %u, n_ctx %u", params_.n_batch,
             params_.n_ctx);
    }
    BLOOM_LOG_INFO("context: n_ctx %u, n_batch %u, n_seq_max %u, %d threads, KV cache %s %.1f MiB%s, flash attention %s",
                   params_.n_ctx, params_.n_batch, params_.n_seq_max, params_.n_threads, ggml_type_name(kv_type),
                   layer_mib * hp.n_layer, placed.c_str(), kv_.flash_attn ? "on" : "off");
}

context::~context() { release(); }

void context::release() {
    if (remote_calls_ && remote_calls_->lost()) {
        // A server was lost: freeing what lives there would wait forever on the dead connection (bloom-rpc.h).
        return;
    }
    if (remote_calls_ && remote_calls_->get_link()) {
        try {
            remote_calls_->run([this] { release_now(); });
        } catch (const error &) {
            // Lost while freeing: what is left is leaked, as above.
        }
        return;
    }
    release_now();
}

void context::release_now() {
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

const float * context::logits_ith(int32_t i) const {
    if (i < 0 || size_t(i) >= out_row_.size() || out_row_[size_t(i)] < 0 || n_logit_rows_ == 0) {
        return nullptr;
    }
    return logits_.data() + size_t(out_row_[size_t(i)]) * size_t(model_.hp.n_vocab);
}

void context::check_seq(int32_t seq, const char * what) const {
    if (seq < 0 || uint32_t(seq) >= params_.n_seq_max) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "%s %d is out of range [0, %u) (the context's n_seq_max)", what, seq,
             params_.n_seq_max);
    }
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
    if (n_tokens > cells_available()) {
        fail(BLOOM_ERR_CONTEXT_FULL, "%zu tokens do not fit: the context holds %u and %u are in use%s", n_tokens,
             params_.n_ctx, params_.n_ctx - cells_available(), reserved_ ? " or reserved" : "");
    }
    // Chunk by chunk. One chunk (a decoded token, a short prompt) leaves its rows in logits_ as they are; with
    // several, all_logits gathers every chunk's rows (else the last chunk's last row is all there is).
    const size_t n_chunks = (n_tokens + params_.n_batch - 1) / params_.n_batch;
    if (all_logits && n_chunks > 1) gathered_.resize(n_tokens * size_t(n_vocab));
    seq_zero_.resize(params_.n_batch, 0);
    want_.resize(params_.n_batch);
    for (size_t done = 0; done < n_tokens;) {
        const int n = int(std::min(size_t(params_.n_batch), n_tokens - done));
        const bool last = done + size_t(n) == n_tokens;
        pos_.resize(size_t(n));
        for (int t = 0; t < n; ++t) {
            pos_[size_t(t)] = seq_next_[0] + t;
            want_[size_t(t)] = all_logits || (last && t == n - 1);
        }
        eval({ tokens + done, pos_.data(), seq_zero_.data(), reinterpret_cast<const bool *>(want_.data()), n }, 0);
        if (all_logits && n_chunks > 1) {
            std::copy(logits_.begin(), logits_.begin() + ptrdiff_t(size_t(n) * size_t(n_vocab)),
                      gathered_.begin() + ptrdiff_t(done * size_t(n_vocab)));
        }
        done += size_t(n);
    }
    if (all_logits && n_chunks > 1) {
        logits_.swap(gathered_);
        n_logit_rows_ = n_tokens;
        out_row_.clear();  // rows of several chunks: bloom_context_get_logits only
    }
}

void context::decode_batch(const bloom_batch & b) {
    const int32_t n_vocab = model_.hp.n_vocab;
    if (b.n_tokens == 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the batch is empty");
    }
    if (b.n_tokens > params_.n_batch) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the batch has %zu tokens, more than the context's n_batch %u", b.n_tokens,
             params_.n_batch);
    }
    if (!b.tokens || !b.pos || !b.seq_id) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the batch's %s array is NULL", !b.tokens ? "tokens" : !b.pos ? "pos" : "seq_id");
    }
    std::vector<int32_t> next(seq_next_);
    for (size_t i = 0; i < b.n_tokens; ++i) {
        if (b.tokens[i] < 0 || b.tokens[i] >= n_vocab) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "token id %d at batch index %zu is out of range [0, %d)", b.tokens[i], i,
                 n_vocab);
        }
        const int32_t s = b.seq_id[i];
        if (s < 0 || uint32_t(s) >= params_.n_seq_max) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "seq_id %d at batch index %zu is out of range [0, %u) (n_seq_max)", s, i,
                 params_.n_seq_max);
        }
        if (b.pos[i] != next[size_t(s)]) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "position %d at batch index %zu does not continue sequence %d: its next "
                 "position is %d (positions %s)", b.pos[i], i, s, next[size_t(s)],
                 b.pos[i] > next[size_t(s)] ? "may not skip" : "may not go back; remove cells with seq_rm first");
        }
        ++next[size_t(s)];
    }
    if (b.n_tokens > cells_available()) {
        fail(BLOOM_ERR_CONTEXT_FULL, "the batch's %zu tokens do not fit: %u of the context's %u cells are free%s",
             b.n_tokens, cells_available(), params_.n_ctx, reserved_ ? " and not reserved by generators" : "");
    }
    std::vector<char> want(b.n_tokens, 0);
    for (size_t i = 0; i < b.n_tokens; ++i) {
        want[i] = b.logits ? b.logits[i] : i + 1 == b.n_tokens;
    }
    clear_logits();
    eval({ b.tokens, b.pos, b.seq_id, reinterpret_cast<const bool *>(want.data()), int(b.n_tokens) }, 0);
}

void context::eval(const batch_view & b, uint32_t n_reserved) {
    const int n_tokens = b.n;
    const int64_t n_vocab = model_.hp.n_vocab;
    clear_logits();
    if (uint32_t(n_tokens) > cells_available() + std::min(n_reserved, reserved_)) {
        fail(BLOOM_ERR_CONTEXT_FULL, "%d tokens do not fit in the %u free cells", n_tokens, cells_available());
    }

    // Place the tokens in the lowest free cells, so the cells in use stay packed at the front and attention reads
    // few masked ones. The placement is undone if the evaluation fails.
    kv_rows_.resize(size_t(n_tokens));
    for (int t = 0; t < n_tokens; ++t) {
        const int32_t c = place(b.seq[t]);
        kv_cell & cell = cells_[size_t(c)];
        cell.pos = b.pos[t];
        cell.token = b.tokens[t];
        cell.seq.set(size_t(b.seq[t]));
        kv_rows_[size_t(t)] = c;
        seq_last_cell_[size_t(b.seq[t])] = c;
    }
    int cell_end = 0;  // one past the highest cell in use after placement
    for (size_t c = cells_.size(); c > 0; --c) {
        if (!cells_[c - 1].is_free()) { cell_end = int(c); break; }
    }
    auto undo = [&] {
        for (int t = 0; t < n_tokens; ++t) {
            kv_cell & cell = cells_[size_t(kv_rows_[size_t(t)])];
            const int16_t claim = cell.claim;
            cell = kv_cell{};
            cell.claim = claim;
        }
        recompute_seq_next();  // seq_last_cell_ as it was (seq_next_ did not move yet)
    };

    out_ids_.clear();
    for (int t = 0; t < n_tokens; ++t) {
        if (b.want[t]) out_ids_.push_back(t);
    }
    // A graph needs an output: when no token asked for logits, the last one's are computed and dropped (a prompt's
    // chunk before its last then has the last chunk's shape, and its graph serves both).
    const bool discard = out_ids_.empty();
    if (discard) out_ids_.push_back(n_tokens - 1);
    const int n_outputs = int(out_ids_.size());
    bool contiguous = true;
    for (int t = 1; t < n_tokens; ++t) contiguous = contiguous && kv_rows_[size_t(t)] == kv_rows_[0] + t;
    // Without flash attention V is written through a view when the cells are a run (a prompt), else value by value;
    // a single token goes value by value too, so the decode graph does not hold its cell and serves again.
    const int v_cell0 = !kv_.flash_attn && n_tokens > 1 && contiguous ? int(kv_rows_[0]) : -1;
    graph_shape shape = { n_tokens, kv_.n_kv(cell_end), n_outputs, kv_.flash_attn ? -1 : v_cell0, {} };
    if (kv_.flash_attn) {
        shape.groups = attn_groups(b, shape.n_kv);
    }

    try {
        remote_calls_->run([&] { compute(b, shape, n_tokens, n_outputs, n_vocab); });
    } catch (...) {
        undo();
        throw;
    }
    n_used_ += uint32_t(n_tokens);
    unreserve(n_reserved);
    for (int t = 0; t < n_tokens; ++t) {
        int32_t & next = seq_next_[size_t(b.seq[t])];
        next = std::max(next, b.pos[t] + 1);
    }
    out_row_.assign(size_t(n_tokens), -1);
    if (!discard) {
        n_logit_rows_ = size_t(n_outputs);
        for (int r = 0; r < n_outputs; ++r) out_row_[size_t(out_ids_[size_t(r)])] = r;
    }
}

std::vector<attn_group> context::attn_groups(const batch_view & b, int n_kv) const {
    // Runs of consecutive tokens of one sequence; none (one attention over all cells) for a single run, or for
    // more runs than a graph takes.
    std::vector<attn_group> groups;
    for (int t = 0; t < b.n; ++t) {
        if (t == 0 || b.seq[t] != b.seq[t - 1]) {
            if (int(groups.size()) == kv_.max_groups) return {};
            groups.push_back({ t, 0, 0, 0 });
        }
        ++groups.back().n_q;
    }
    if (groups.size() < 2) return {};
    // Each group reads the 256-cell blocks that hold its sequence's cells, so that its span, like n_kv, stays the
    // same for many decode steps and the graph serves again.
    const int pad = int(kv_.n_pad), n_alloc = int(kv_.n_ctx);
    for (attn_group & g : groups) {
        const size_t s = size_t(b.seq[g.q0]);
        int lo = n_kv, hi = 0;
        for (int c = 0; c < std::min(n_kv, int(cells_.size())); ++c) {
            if (!cells_[size_t(c)].is_free() && cells_[size_t(c)].seq.test(s)) {
                lo = std::min(lo, c);
                hi = c + 1;
            }
        }
        g.c0 = lo / pad * pad;
        g.n_kv = hi;  // for now one past the last cell; padded below
    }
    // Neighbours whose cells lie close together attend as one group: each op costs a synchronisation of the
    // threads, which for one decode token per sequence is worth more than scanning a few hundred masked cells.
    std::vector<attn_group> merged;
    for (const attn_group & g : groups) {
        if (!merged.empty()) {
            attn_group & m = merged.back();
            const int c0 = std::min(m.c0, g.c0), hi = std::max(m.n_kv, g.n_kv);
            if (m.q0 + m.n_q == g.q0 && hi - c0 <= 2 * pad) {
                m.n_q += g.n_q;
                m.c0 = c0;
                m.n_kv = hi;
                continue;
            }
        }
        merged.push_back(g);
    }
    if (merged.size() < 2) return {};
    for (attn_group & g : merged) {
        g.n_kv = std::min(GGML_PAD(g.n_kv - g.c0, pad), std::min(n_kv, n_alloc) - g.c0);
    }
    return merged;
}

// Builds (or reuses) the graph for shape, sets its inputs, computes it and copies the logits out: every ggml call of
// an evaluation, run on the executor when layers live on RPC servers.
void context::compute(const batch_view & b, const graph_shape & shape, int n_tokens, int n_outputs, int64_t n_vocab) {
    // The previous graph serves again when it has the same shape: token after token, a decode graph stays the
    // same while n_kv does (256 cells), as in llama.cpp. Skipping the build and the scheduler's split and
    // allocation saves ~4 M instructions of host time per token for 24 layers (callgrind, bloom-560m), which a
    // GPU, whose decode step is short, cannot hide.
    if (!graph_ || !(shape == graph_shape_)) {
        forget_graph();
        ggml_init_params gp = { graph_meta_.size(), graph_meta_.data(), true };
        graph_ctx_ = ggml_init(gp);
        ggml_cgraph * gf = build_graph(graph_ctx_, model_, kv_, graph_io_, shape);
        ggml_backend_sched_reset(sched_);
        if (!ggml_backend_sched_alloc_graph(sched_, gf)) {
            forget_graph();
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the compute graph for %d tokens", n_tokens);
        }
        graph_ = gf;
        graph_shape_ = shape;
        ++n_graph_builds_;
    }
    const graph_io & io = graph_io_;

    ggml_backend_tensor_set(io.tokens, b.tokens, 0, size_t(n_tokens) * sizeof(int32_t));
    ggml_backend_tensor_set(io.kv_rows, kv_rows_.data(), 0, kv_rows_.size() * sizeof(int64_t));
    if (io.v_elems) {
        const int64_t E = model_.hp.n_embd, n_alloc = int64_t(kv_.n_ctx);
        v_elems_.resize(size_t(E * n_tokens));
        for (int t = 0; t < n_tokens; ++t) {
            for (int64_t e = 0; e < E; ++e) v_elems_[size_t(e + E * t)] = e * n_alloc + kv_rows_[size_t(t)];
        }
        ggml_backend_tensor_set(io.v_elems, v_elems_.data(), 0, v_elems_.size() * sizeof(int64_t));
    }
    if (io.out_ids) {
        ggml_backend_tensor_set(io.out_ids, out_ids_.data(), 0, out_ids_.size() * sizeof(int32_t));
    }
    // ALiBi bias source: -(distance within the query's sequence) for its visible cells; ggml scales it by each
    // head's slope. Cells of other sequences, later positions and free cells are -inf. One mask over all
    // cells, or one per attention group over the group's cells.
    auto fill_mask = [&](ggml_tensor * mask, int q0, int n_q, int c0, int n_cells) {
        mask_.resize(size_t(n_cells) * size_t(n_q));
        for (int t = 0; t < n_q; ++t) {
            const int32_t pos = b.pos[q0 + t];
            const size_t  s   = size_t(b.seq[q0 + t]);
            float * row = mask_.data() + size_t(t) * size_t(n_cells);
            // On a GPU the cache's allocation (and so n_kv) may run past the n_ctx cells: those are never used.
            const int n_real = std::max(0, std::min(n_cells, int(cells_.size()) - c0));
            for (int j = 0; j < n_real; ++j) {
                const kv_cell & c = cells_[size_t(c0 + j)];
                row[j] = !c.is_free() && c.pos <= pos && c.seq.test(s) ? -float(pos - c.pos) : -INFINITY;
            }
            std::fill(row + n_real, row + n_cells, -INFINITY);
        }
        if (mask->type == GGML_TYPE_F16) {
            mask_f16_.resize(mask_.size());
            ggml_fp32_to_fp16_row(mask_.data(), mask_f16_.data(), int64_t(mask_.size()));
            ggml_backend_tensor_set(mask, mask_f16_.data(), 0, mask_f16_.size() * sizeof(ggml_fp16_t));
        } else {
            ggml_backend_tensor_set(mask, mask_.data(), 0, mask_.size() * sizeof(float));
        }
    };
    if (io.mask) {
        fill_mask(io.mask, 0, n_tokens, 0, shape.n_kv);
    }
    for (size_t g = 0; g < shape.groups.size(); ++g) {
        const attn_group & grp = shape.groups[g];
        fill_mask(io.group_masks[g], grp.q0, grp.n_q, grp.c0, grp.n_kv);
    }

    const ggml_status st = ggml_backend_sched_graph_compute(sched_, graph_);
    if (st != GGML_STATUS_SUCCESS) {
        forget_graph();
        fail(BLOOM_ERR_INTERNAL, "graph computation failed with ggml status %d", int(st));
    }
    logits_.resize(size_t(n_outputs) * size_t(n_vocab));
    ggml_backend_tensor_get(io.logits, logits_.data(), 0, logits_.size() * sizeof(float));
}

void context::forget_graph() {
    if (graph_ctx_) ggml_free(graph_ctx_);
    graph_ctx_ = nullptr;
    graph_ = nullptr;
    graph_io_ = {};
}

void context::free_cell(kv_cell & c) {
    const int16_t claim = c.claim;
    c = kv_cell{};
    c.claim = claim;
    --n_used_;
}

int32_t context::place(int32_t seq) {
    // Each sequence's cells are kept together where the free cells allow: a group's attention then reads little
    // beyond its own cells (see attn_groups). In order: the cell after the sequence's last one; a cell of its
    // claimed run; the lowest free cell no other sequence has claimed; the lowest free cell.
    const int32_t n = int32_t(cells_.size());
    auto usable = [&](int32_t c) {
        return cells_[size_t(c)].is_free() && (cells_[size_t(c)].claim < 0 || cells_[size_t(c)].claim == seq);
    };
    const int32_t next = seq_last_cell_[size_t(seq)] + 1;
    if (seq_last_cell_[size_t(seq)] >= 0 && next < n && usable(next)) return next;
    int32_t unclaimed = -1, any = -1;
    for (int32_t c = 0; c < n; ++c) {
        const kv_cell & cell = cells_[size_t(c)];
        if (!cell.is_free()) continue;
        if (cell.claim == seq) return c;
        if (cell.claim < 0 && unclaimed < 0) unclaimed = c;
        if (any < 0) any = c;
    }
    if (unclaimed >= 0) return unclaimed;
    GGML_ASSERT(any >= 0 && "eval checks the free cells first");
    return any;
}

void context::claim_run(int32_t seq, uint32_t n_cells) {
    // First fit among runs of free, unclaimed cells; else the longest such run.
    const int32_t n = int32_t(cells_.size());
    int32_t best = -1, best_len = 0;
    for (int32_t c = 0; c < n;) {
        if (!cells_[size_t(c)].is_free() || cells_[size_t(c)].claim >= 0) { ++c; continue; }
        int32_t e = c;
        while (e < n && cells_[size_t(e)].is_free() && cells_[size_t(e)].claim < 0) ++e;
        if (e - c > best_len) { best = c; best_len = e - c; }
        if (uint32_t(e - c) >= n_cells) { best = c; best_len = int32_t(n_cells); break; }
        c = e;
    }
    for (int32_t c = best; c >= 0 && c < best + best_len; ++c) cells_[size_t(c)].claim = int16_t(seq);
}

void context::release_claims(int32_t seq) {
    for (kv_cell & c : cells_) {
        if (c.claim == seq) c.claim = -1;
    }
}

void context::recompute_seq_next() {
    std::fill(seq_next_.begin(), seq_next_.end(), 0);
    std::fill(seq_last_cell_.begin(), seq_last_cell_.end(), -1);
    for (size_t i = 0; i < cells_.size(); ++i) {
        const kv_cell & c = cells_[i];
        if (c.is_free()) continue;
        for (size_t s = 0; s < seq_next_.size(); ++s) {
            if (c.seq.test(s) && c.pos + 1 > seq_next_[s]) {
                seq_next_[s] = c.pos + 1;
                seq_last_cell_[s] = int32_t(i);
            }
        }
    }
}

void context::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
    if (seq != -1) check_seq(seq, "seq_id");
    if (p0 < 0) fail(BLOOM_ERR_INVALID_ARGUMENT, "p0 must be >= 0, not %d", p0);
    if (p1 < 0) p1 = INT32_MAX;
    for (kv_cell & c : cells_) {
        if (c.is_free() || c.pos < p0 || c.pos >= p1) continue;
        if (seq < 0) {
            c.seq.reset();
        } else {
            c.seq.reset(size_t(seq));
        }
        if (c.seq.none()) free_cell(c);
    }
    recompute_seq_next();
    clear_logits();
}

void context::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    check_seq(src, "src");
    check_seq(dst, "dst");
    if (src == dst) fail(BLOOM_ERR_INVALID_ARGUMENT, "src and dst are the same sequence %d", src);
    if (p0 < 0) fail(BLOOM_ERR_INVALID_ARGUMENT, "p0 must be >= 0, not %d", p0);
    if (p1 < 0) p1 = INT32_MAX;
    seq_rm(dst, 0, -1);
    for (kv_cell & c : cells_) {
        if (!c.is_free() && c.seq.test(size_t(src)) && c.pos >= p0 && c.pos < p1) c.seq.set(size_t(dst));
    }
    recompute_seq_next();
}

void context::seq_keep(int32_t seq) {
    check_seq(seq, "seq_id");
    for (kv_cell & c : cells_) {
        if (c.is_free()) continue;
        const bool mine = c.seq.test(size_t(seq));
        c.seq.reset();
        if (mine) {
            c.seq.set(size_t(seq));
        } else {
            free_cell(c);
        }
    }
    recompute_seq_next();
    clear_logits();
}

std::vector<int32_t> context::seq_tokens(int32_t seq, size_t * n_contiguous) const {
    std::vector<std::pair<int32_t, int32_t>> by_pos;  // (pos, token)
    for (const kv_cell & c : cells_) {
        if (!c.is_free() && c.seq.test(size_t(seq))) by_pos.emplace_back(c.pos, c.token);
    }
    std::sort(by_pos.begin(), by_pos.end());
    std::vector<int32_t> out;
    out.reserve(by_pos.size());
    size_t contiguous = 0;
    for (const auto & [pos, token] : by_pos) {
        if (pos == int32_t(contiguous) && contiguous == out.size()) ++contiguous;
        out.push_back(token);
    }
    if (n_contiguous) *n_contiguous = contiguous;
    return out;
}

uint32_t context::cells_freed_by_rm(int32_t seq, int32_t p0) const {
    uint32_t n = 0;
    for (const kv_cell & c : cells_) {
        if (!c.is_free() && c.pos >= p0 && c.seq.test(size_t(seq)) && c.seq.count() == 1) ++n;
    }
    return n;
}

void context::truncate(uint32_t n_keep) {
    if (n_keep > uint32_t(seq_next_[0])) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "cannot keep %u tokens: only %d are cached", n_keep, seq_next_[0]);
    }
    seq_rm(0, int32_t(n_keep), -1);
}

} // namespace bloom
