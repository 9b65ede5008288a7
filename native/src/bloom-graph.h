// The BLOOM forward pass as a ggml graph, exactly as Hugging Face's BloomForCausalLM computes it.
#pragma once

#include "bloom-model.h"

#include <algorithm>
#include <vector>

namespace bloom {

// The KV cache of one context, per layer (f32 or f16): a pool of cells, cell c = one token's keys and values.
//   k[il]: [n_embd, n_ctx]  row c = keys of cell c, heads side by side
//   v[il]: flash attention: [n_embd, n_ctx] like k; otherwise [n_ctx, n_embd], transposed, so that the product
//          with the attention weights reads V^T rows contiguously
// Which position and sequences a cell holds is the context's bookkeeping (context::cells_); the graph sees it only
// through its inputs: the cells to write (kv_rows, v_elems) and the mask.
struct kv_cache {
    std::vector<ggml_tensor *> k;
    std::vector<ggml_tensor *> v;
    uint32_t                   n_ctx      = 0;
    bool                       flash_attn = false;
    // Attention reads the first n_kv(n) cells when cells [0, n) may be in use: n rounded up to a multiple of n_pad,
    // the rest masked (as llama.cpp pads). GPU flash-attention kernels want whole 256-cell tiles, and a decode graph
    // then stays the same for 256 tokens in a row, so the context can reuse it. The masked keys cost the CPU's
    // flash attention a comparison each. n_ctx here is the allocation: on a GPU a multiple of n_pad, at least the
    // context's capacity.
    uint32_t                   n_pad      = 256;
    // The most attention groups a graph takes (see attn_group): with flash attention min(n_seq_max, 64), else 0.
    // A batch of more runs of sequences attends over all cells at once.
    int                        max_groups = 0;

    int n_kv(int n_used) const { return int(std::min<uint32_t>(GGML_PAD(uint32_t(n_used), n_pad), n_ctx)); }
};

// With flash attention, a batch of several sequences attends group by group: the batch's consecutive tokens of one
// sequence (rows q0 .. q0+n_q) read only cells [c0, c0 + n_kv) around that sequence's cells, not every cell in use.
// The fused kernel steps over masked cells one by one, so with 16 sequences the whole pool costs 16 times the scan.
struct attn_group {
    int q0, n_q, c0, n_kv;
    bool operator==(const attn_group & o) const {
        return q0 == o.q0 && n_q == o.n_q && c0 == o.c0 && n_kv == o.n_kv;
    }
};

// The shape of one evaluation: what the graph depends on beyond the model and the cache.
struct graph_shape {
    int n_tokens;   // tokens evaluated
    int n_kv;       // cells attention reads
    int n_outputs;  // tokens whose logits are wanted (the rows of io.logits), <= n_tokens
    int v_cell0;    // without flash attention: the first of n_tokens contiguous cells that V goes to through a
                    // view (a prompt filling a run of free cells); -1: V goes through v_elems, cell by cell
    std::vector<attn_group> groups;  // empty: one attention over cells [0, n_kv) with io.mask
    bool operator==(const graph_shape & o) const {
        return n_tokens == o.n_tokens && n_kv == o.n_kv && n_outputs == o.n_outputs && v_cell0 == o.v_cell0 &&
               groups == o.groups;
    }
};

// Inputs the caller fills after allocation, and the output it reads.
struct graph_io {
    ggml_tensor * tokens  = nullptr; // I32 [n_tokens]
    ggml_tensor * kv_rows = nullptr; // I64 [n_tokens]: the cells the new K (and with flash attention V) go to
    ggml_tensor * v_elems = nullptr; // I64 [n_embd * n_tokens], without flash attention when v_cell0 < 0: where
                                     // token t's value e goes in the flattened transposed V cache,
                                     // e * n_ctx + cell(t), at index e + n_embd * t
    ggml_tensor * mask    = nullptr; // [n_kv, n_tokens]: -(p_i - p_j) where cell j is of query i's sequence and at
                                     // a position p_j <= p_i, -inf elsewhere; F16 with flash attention (ggml's fused
                                     // op takes no other), F32 otherwise
    ggml_tensor * out_ids = nullptr; // I32 [n_outputs] when n_outputs < n_tokens: the tokens whose rows go on after
                                     // the last block's attention
    std::vector<ggml_tensor *> group_masks;  // F16 [n_kv, n_q] per attention group (then mask is null): the
                                             // group's rows of the mask over its cells
    ggml_tensor * logits  = nullptr; // F32 [n_vocab, n_outputs]
};

// Builds the graph evaluating a batch of shape.n_tokens tokens against the cache, storing their K/V into it.
// Everything that changes from batch to batch arrives in the inputs, so one graph serves every batch of the
// same shape.
ggml_cgraph * build_graph(ggml_context * ctx0, const model & m, const kv_cache & kv, graph_io & io,
                          const graph_shape & shape);

// The most attention groups any graph takes (kv_cache::max_groups).
constexpr int k_max_attn_groups = 64;

// Nodes a graph needs at most, for sizing its metadata buffer.
size_t graph_max_nodes(const model & m, const kv_cache & kv);

} // namespace bloom
