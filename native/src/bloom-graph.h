// The BLOOM forward pass as a ggml graph, exactly as Hugging Face's BloomForCausalLM computes it.
#pragma once

#include "bloom-model.h"

#include <algorithm>

namespace bloom {

// The KV cache of one context, per layer (f32 or f16):
//   k[il]: [n_embd, n_ctx]  row p = keys of position p, heads side by side
//   v[il]: flash attention: [n_embd, n_ctx] like k; otherwise [n_ctx, n_embd], transposed, so that the product
//          with the attention weights reads V^T rows contiguously
struct kv_cache {
    std::vector<ggml_tensor *> k;
    std::vector<ggml_tensor *> v;
    uint32_t                   n_ctx      = 0;
    bool                       flash_attn = false;
    // Attention reads the first n_kv(n) cached positions for n in use: n rounded up to a multiple of n_pad, the
    // rest masked (as llama.cpp pads). GPU flash-attention kernels want whole 256-position tiles, and a decode graph
    // then stays the same for 256 tokens in a row, so the context can reuse it (with flash attention, where the
    // cache is written through row indices, see graph_io::kv_rows). The masked keys cost the CPU's flash attention
    // a comparison each. n_ctx here is the allocation: on a GPU a multiple of n_pad, at least the context's capacity.
    uint32_t                   n_pad      = 256;

    int n_kv(int n_used) const { return int(std::min<uint32_t>(GGML_PAD(uint32_t(n_used), n_pad), n_ctx)); }
};

// Inputs the caller fills after allocation, and the output it reads.
struct graph_io {
    ggml_tensor * tokens = nullptr;  // I32 [n_tokens]
    ggml_tensor * kv_rows = nullptr; // I64 [n_tokens]: the cache rows (positions) the new K (and with flash
                                     // attention V) go to
    ggml_tensor * v_elems = nullptr; // I64 [n_embd], without flash attention and for one token only: where its V
                                     // values go in the flattened transposed V cache, e * n_ctx + n_past (longer
                                     // batches write V through a view at n_past, so their graphs hold n_past)
    ggml_tensor * mask   = nullptr;  // [n_kv, n_tokens]: -(i - j) for key j <= query i, -inf above; F16 with
                                     // flash attention (ggml's fused op takes no other), F32 otherwise
    ggml_tensor * logits = nullptr;  // F32 [n_vocab, n_outputs]
};

// Builds the graph evaluating n_tokens new tokens after n_past cached ones, storing their K/V into the cache.
// all_logits: logits for every new token, else only for the last one. With flash attention, or for one token, the
// graph depends on n_past only through kv.n_kv(n_past + n_tokens): the positions arrive in the inputs (mask,
// kv_rows, v_elems).
ggml_cgraph * build_graph(ggml_context * ctx0, const model & m, const kv_cache & kv, graph_io & io,
                          int n_tokens, int n_past, bool all_logits);

// Nodes a graph needs at most, for sizing its metadata buffer.
size_t graph_max_nodes(const model & m);

} // namespace bloom
