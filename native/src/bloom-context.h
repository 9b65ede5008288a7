// An inference context: the KV cache, the backend scheduler and the logits of the last decode.
#pragma once

#include "bloom-graph.h"
#include "bloom-model.h"
#include "bloom-rpc.h"

#include <atomic>
#include <bitset>
#include <memory>
#include <vector>

namespace bloom {

// One token's place in the KV cache: its position within its sequence(s), and which sequences it belongs to (more
// than one after bloom_context_seq_cp). A free cell has pos -1 and no sequence.
struct kv_cell {
    int32_t                       pos   = -1;
    int32_t                       token = -1;
    int16_t                       claim = -1;  // a free cell kept for this sequence's next tokens (claim_run)
    std::bitset<BLOOM_MAX_SEQ>    seq;
    bool is_free() const { return pos < 0; }
};

// Tokens of one evaluation, each of one sequence at one position; want[i]: keep token i's logits.
struct batch_view {
    const int32_t * tokens;
    const int32_t * pos;
    const int32_t * seq;
    const bool *    want;
    int             n;
};

class context {
public:
    context(const model & m, const bloom_context_params & params);  // throws bloom::error
    ~context();
    context(const context &) = delete;
    context & operator=(const context &) = delete;

    // Appends tokens to sequence 0, evaluating them in chunks of n_batch. Throws bloom::error.
    void decode(const int32_t * tokens, size_t n_tokens, bool all_logits);
    // bloom_context_decode_batch: validates (nothing changes on an error), then evaluates in one graph.
    void decode_batch(const bloom_batch & batch);
    // Evaluates a batch already validated, in one graph, drawing on reserved cells for n_reserved of its tokens;
    // logits rows of the wanted tokens go to logits_. On an error no cell changes. Throws bloom::error.
    void eval(const batch_view & b, uint32_t n_reserved);

    // Sequence operations (bloom_context_seq_*); seq -1 in seq_rm is every sequence. Clear the stored logits.
    void seq_rm(int32_t seq, int32_t p0, int32_t p1);
    void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
    void seq_keep(int32_t seq);
    int32_t seq_n_past(int32_t seq) const { return seq_next_[size_t(seq)]; }
    // Token ids of seq's cells in position order, and how many of them, from position 0, have no gap.
    std::vector<int32_t> seq_tokens(int32_t seq, size_t * n_contiguous = nullptr) const;
    // Cells that removing seq's cells at positions >= p0 would free (cells no other sequence shares).
    uint32_t cells_freed_by_rm(int32_t seq, int32_t p0) const;
    void check_seq(int32_t seq, const char * what) const;  // throws BLOOM_ERR_INVALID_ARGUMENT outside [0, n_seq_max)

    // Drops sequence 0's positions >= n_keep.
    void truncate(uint32_t n_keep);

    uint32_t n_past() const { return uint32_t(seq_next_[0]); }  // sequence 0's
    uint32_t n_ctx() const { return params_.n_ctx; }  // capacity (the allocation may be larger, see init)
    uint32_t n_seq_max() const { return params_.n_seq_max; }
    uint32_t cells_used() const { return n_used_; }
    // Free cells nobody has reserved.
    uint32_t cells_available() const { return params_.n_ctx - n_used_ - reserved_; }
    // Reservations of cells for generators' prompts (bloom_generator_init), released as their prompts are evaluated.
    void reserve(uint32_t n) { reserved_ += n; }
    void unreserve(uint32_t n) { reserved_ -= std::min(reserved_, n); }
    // Keeps a run of up to n_cells free cells for seq's next tokens (a generator's prompt and output), so that its
    // cells stay together; release_claims gives them back. Placement only, no capacity: see reserve().
    void claim_run(int32_t seq, uint32_t n_cells);
    void release_claims(int32_t seq);
    // Which sequences a live generator holds.
    bool seq_claimed(int32_t seq) const { return claimed_[size_t(seq)]; }
    void set_claimed(int32_t seq, bool claimed) { claimed_[size_t(seq)] = claimed; }

    const bloom_context_params & params() const { return params_; }  // defaults resolved
    std::vector<int32_t> tokens() const { return seq_tokens(0); }     // sequence 0's
    const std::vector<float> & logits() const { return logits_; }    // n_logit_rows * n_vocab
    size_t n_logit_rows() const { return n_logit_rows_; }
    const float * last_logits() const;                               // nullptr if none
    // The logits row of token i of the last batch; nullptr when it had none.
    const float * logits_ith(int32_t i) const;
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
    void release();  // frees whatever init made; safe on a partly made context; leaks it after a lost RPC server
    void release_now();
    void compute(const batch_view & b, const graph_shape & shape, int n_tokens, int n_outputs, int64_t n_vocab);
    void forget_graph();  // frees the kept graph; the next evaluation builds one
    // The attention groups of a batch (see attn_group), cells already placed; empty for one group.
    std::vector<attn_group> attn_groups(const batch_view & b, int n_kv) const;
    void clear_logits() { n_logit_rows_ = 0; out_row_.clear(); }
    void free_cell(kv_cell & c);
    int32_t place(int32_t seq);  // the cell for seq's next token (a free one exists)
    void recompute_seq_next();

    const model &          model_;
    bloom_context_params   params_;
    std::unique_ptr<rpc::executor> remote_calls_;   // runs the ggml calls (direct without RPC servers)
    ggml_backend_t         backend_ = nullptr;      // the CPU
    std::vector<ggml_backend_t> gpu_backends_;      // one per GPU of the model (model::gpus), in its order
    ggml_threadpool_t      threadpool_ = nullptr;
    ggml_backend_sched_t   sched_   = nullptr;
    // The KV cache, per device: [0] host memory, [1 + g] the memory of model::gpus[g] (each layer's where its weights
    // are). Null where no layer's cache is.
    std::vector<ggml_context *>         ctx_kv_;
    std::vector<ggml_backend_buffer_t>  buf_kv_;
    kv_cache               kv_;
    std::vector<kv_cell>   cells_;                  // n_ctx of them
    uint32_t               n_used_ = 0;             // cells not free
    uint32_t               reserved_ = 0;           // free cells promised to generators' prompts
    std::vector<int32_t>   seq_next_;               // per sequence: one past its highest position, 0 when empty
    std::vector<int32_t>   seq_last_cell_;          // per sequence: the cell of its highest position, -1 when empty
    std::vector<bool>      claimed_;                // per sequence: held by a live generator
    std::vector<uint8_t>   graph_meta_;             // memory of the graph's metadata (graph_ctx_)
    ggml_context *         graph_ctx_ = nullptr;    // the last graph, allocated by sched_, kept for reuse
    ggml_cgraph *          graph_     = nullptr;
    graph_io               graph_io_;
    graph_shape            graph_shape_ = {};
    size_t                 n_graph_builds_ = 0;
    std::vector<int64_t>   kv_rows_;
    std::vector<int64_t>   v_elems_;
    std::vector<int32_t>   out_ids_;
    std::vector<int32_t>   pos_, seq_zero_;        // decode()'s batch of sequence 0, reused
    std::vector<char>      want_;
    std::vector<float>     gathered_;               // decode()'s rows of several chunks
    std::vector<float>     mask_;
    std::vector<ggml_fp16_t> mask_f16_;
    std::vector<float>     logits_;
    size_t                 n_logit_rows_ = 0;
    std::vector<int32_t>   out_row_;                // per token of the last batch: its logits row, or -1
    mutable std::atomic<bool> busy_{false};
};

} // namespace bloom
