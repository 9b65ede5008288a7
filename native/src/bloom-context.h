// An inference context: the KV cache, the backend scheduler and the logits of the last decode.
#pragma once

#include "bloom-graph.h"
#include "bloom-model.h"

#include <atomic>
#include <vector>

namespace bloom {

class context {
public:
    context(const model & m, const bloom_context_params & params);  // throws bloom::error
    ~context();
    context(const context &) = delete;
    context & operator=(const context &) = delete;

    // Appends tokens to the cache, evaluating them in chunks of n_batch. Throws bloom::error.
    void decode(const int32_t * tokens, size_t n_tokens, bool all_logits);
    // Drops cached positions >= n_keep.
    void truncate(uint32_t n_keep);

    uint32_t n_past() const { return uint32_t(tokens_.size()); }
    uint32_t n_ctx() const { return params_.n_ctx; }  // capacity (the allocation may be larger, see init)
    const bloom_context_params & params() const { return params_; }  // defaults resolved
    const std::vector<int32_t> & tokens() const { return tokens_; }
    const std::vector<float> & logits() const { return logits_; }   // n_logit_rows * n_vocab
    size_t n_logit_rows() const { return n_logit_rows_; }
    const float * last_logits() const;                              // nullptr if none
    const model & get_model() const { return model_; }
    size_t n_graph_builds() const { return n_graph_builds_; }      // graphs built so far (the rest reused)

    // Marks the context as entered by one thread for the lifetime of the guard; a second thread gets BLOOM_ERR_BUSY.
    class guard {
    public:
        explicit guard(const context & c);
        ~guard();
    private:
        const context & c_;
    };

private:
    void init();     // the constructor's work; throws bloom::error
    void release();  // frees whatever init made; safe on a partly made context
    void eval_chunk(const int32_t * tokens, int n_tokens, bool all_logits, float * logits_out);
    void forget_graph();  // frees the kept graph; the next chunk builds one

    // What determines a graph's shape (see eval_chunk): equal keys, same graph.
    struct graph_key {
        int  n_tokens, n_kv;
        bool all_logits;
        int  n_past;  // -1 where the graph does not depend on it (flash attention, or one token)
        bool operator==(const graph_key & o) const {
            return n_tokens == o.n_tokens && n_kv == o.n_kv && all_logits == o.all_logits && n_past == o.n_past;
        }
    };

    const model &          model_;
    bloom_context_params   params_;
    ggml_backend_t         backend_ = nullptr;      // the CPU
    std::vector<ggml_backend_t> gpu_backends_;      // one per GPU of the model (model::gpus), in its order
    ggml_threadpool_t      threadpool_ = nullptr;
    ggml_backend_sched_t   sched_   = nullptr;
    // The KV cache, per device: [0] host memory, [1 + g] the memory of model::gpus[g] (each layer's where its weights
    // are). Null where no layer's cache is.
    std::vector<ggml_context *>         ctx_kv_;
    std::vector<ggml_backend_buffer_t>  buf_kv_;
    kv_cache               kv_;
    std::vector<uint8_t>   graph_meta_;             // memory of the graph's metadata (graph_ctx_)
    ggml_context *         graph_ctx_ = nullptr;    // the last graph, allocated by sched_, kept for reuse
    ggml_cgraph *          graph_     = nullptr;
    graph_io               graph_io_;
    graph_key              graph_key_ = {};
    size_t                 n_graph_builds_ = 0;
    std::vector<int64_t>   kv_rows_;
    std::vector<int64_t>   v_elems_;
    std::vector<float>     mask_;
    std::vector<ggml_fp16_t> mask_f16_;
    std::vector<int32_t>   tokens_;
    std::vector<float>     logits_;
    size_t                 n_logit_rows_ = 0;
    mutable std::atomic<bool> busy_{false};
};

} // namespace bloom
