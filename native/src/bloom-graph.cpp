#include "bloom-graph.h"

#include <cmath>

namespace bloom {

namespace {

// LayerNorm with affine weight and bias, over ne0.
ggml_tensor * build_norm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b, float eps) {
    x = ggml_norm(ctx, x, eps);
    x = ggml_mul(ctx, x, w);
    return ggml_add(ctx, x, b);
}

ggml_tensor * build_linear(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b) {
    return ggml_add(ctx, ggml_mul_mat(ctx, w, x), b);
}

// BLOOM's GELU, x * 0.5 * (1 + tanh(0.79788456 * x * (1 + 0.044715 * x^2))), composed from exact f32 ops. Since
// 0.5 * (1 + tanh(u)) = sigmoid(2u), it is evaluated as x * sigmoid(1.5957691 * x * (1 + 0.044715 * x^2)): one expf
// per element instead of a tanhf, which took a fifth of a bloom-560m prefill on the CPU, and one op fewer. ggml's own
// gelu goes through an f16 lookup table on the CPU, which alone costs ~1e-3 relative error.
ggml_tensor * build_gelu_tanh(ggml_context * ctx, ggml_tensor * x) {
    constexpr double two_c = 2.0 * 0.7978845608028654;  // 2 * sqrt(2 / pi)
    ggml_tensor * t = ggml_sqr(ctx, x);
    t = ggml_scale_bias(ctx, t, float(two_c * 0.044715), float(two_c));  // 2c (1 + 0.044715 x^2)
    t = ggml_mul(ctx, t, x);
    t = ggml_sigmoid(ctx, t);
    return ggml_mul(ctx, x, t);
}

// Causal self-attention with ALiBi over the cache, after storing this batch's K and V into it.
ggml_tensor * build_attn(ggml_context * ctx, ggml_cgraph * gf, const model & m, const kv_cache & kv, const graph_io & io,
                         int il, ggml_tensor * qkv, const graph_shape & shape) {
    const hparams & hp = m.hp;
    const int64_t d = hp.head_dim(), H = hp.n_head, E = hp.n_embd, T = shape.n_tokens, n_kv = shape.n_kv;
    const size_t es = ggml_element_size(qkv);

    // qkv: [3E, T]. Hugging Face interleaves per head: [q_h, k_h, v_h] for h = 0..H-1.
    ggml_tensor * q, * k, * v;
    if (m.qkv_interleaved) {
        q = ggml_view_3d(ctx, qkv, d, H, T, 3 * d * es, qkv->nb[1], 0 * d * es);
        k = ggml_view_3d(ctx, qkv, d, H, T, 3 * d * es, qkv->nb[1], 1 * d * es);
        v = ggml_view_3d(ctx, qkv, d, H, T, 3 * d * es, qkv->nb[1], 2 * d * es);
    } else {
        q = ggml_view_3d(ctx, qkv, d, H, T, d * es, qkv->nb[1], 0 * E * es);
        k = ggml_view_3d(ctx, qkv, d, H, T, d * es, qkv->nb[1], 1 * E * es);
        v = ggml_view_3d(ctx, qkv, d, H, T, d * es, qkv->nb[1], 2 * E * es);
    }
    ggml_set_name(q, "q");

    ggml_tensor * k_cache = kv.k[il], * v_cache = kv.v[il];
    const size_t kes = ggml_element_size(k_cache);
    const float kq_scale = 1.0f / std::sqrt(float(d));
    // ggml derives each head's ALiBi slope from max_bias = 8 exactly as Hugging Face's build_alibi_tensor does (also
    // for head counts that are not powers of two) and adds slope * mask; the mask holds p_j - p_i (positions within
    // the query's sequence) for visible keys, and adding slope*(p_j - p_i) instead of HF's slope*p_j shifts a row by
    // a constant, which softmax ignores.
    const float alibi_max_bias = 8.0f;

    // Store K (and for flash attention V) as cache rows io.kv_rows (the batch's cells), converting to the cache's
    // type. A row is one token's heads side by side: contiguous in the qkv output when it is laid out
    // [all q; all k; all v] (GGUF), gathered first when Hugging Face interleaves the heads.
    auto rows_of = [&](ggml_tensor * x, int part) {                                          // [E, T]
        return m.qkv_interleaved ? ggml_reshape_2d(ctx, ggml_cont(ctx, x), E, T)
                                 : ggml_view_2d(ctx, qkv, E, T, qkv->nb[1], size_t(part) * E * es);
    };
    ggml_build_forward_expand(gf, ggml_set_rows(ctx, k_cache, rows_of(k, 1), io.kv_rows));
    ggml_tensor * K = ggml_view_3d(ctx, k_cache, d, n_kv, H, k_cache->nb[1], d * kes, 0);     // [d, n_kv, H]
    ggml_tensor * Q = ggml_permute(ctx, q, 0, 2, 1, 3);                                       // [d, T, H]

    if (kv.flash_attn) {
        ggml_build_forward_expand(gf, ggml_set_rows(ctx, v_cache, rows_of(v, 2), io.kv_rows));
        auto attend = [&](ggml_tensor * Qg, int c0, int64_t n_cells, ggml_tensor * mask, int64_t n_q) {
            ggml_tensor * Kg = ggml_view_3d(ctx, k_cache, d, n_cells, H, k_cache->nb[1], d * kes,
                                            size_t(c0) * k_cache->nb[1]);                         // [d, n_cells, H]
            ggml_tensor * Vg = ggml_view_3d(ctx, v_cache, d, n_cells, H, v_cache->nb[1], d * kes,
                                            size_t(c0) * v_cache->nb[1]);
            ggml_tensor * out = ggml_flash_attn_ext(ctx, Qg, Kg, Vg, mask, kq_scale, alibi_max_bias, 0.0f);
            ggml_prec_set_acc(out, GGML_PREC_F32);
            return ggml_reshape_2d(ctx, out, E, n_q);                                              // out: [d, H, n_q]
        };
        if (shape.groups.empty()) {
            return attend(Q, 0, n_kv, io.mask, T);
        }
        ggml_tensor * merged = nullptr;                                                           // [E, T]
        for (size_t g = 0; g < shape.groups.size(); ++g) {
            const attn_group & grp = shape.groups[g];
            ggml_tensor * Qg = ggml_view_3d(ctx, Q, d, grp.n_q, H, Q->nb[1], Q->nb[2], size_t(grp.q0) * Q->nb[1]);
            ggml_tensor * out = attend(Qg, grp.c0, grp.n_kv, io.group_masks[g], grp.n_q);
            merged = merged ? ggml_concat(ctx, merged, out, 1) : out;
        }
        return merged;
    }

    ggml_tensor * v_rows = ggml_reshape_2d(ctx, ggml_cont(ctx, v), E, T);                      // [E, T]
    if (io.v_elems) {
        // Each value goes to its cell's column of the transposed cache, as a one-element row of the flattened cache
        // (element (c, e) is row e * n_ctx + c), so the cells may lie anywhere and the graph does not hold them.
        ggml_tensor * flat = ggml_reshape_2d(ctx, v_cache, 1, ggml_nelements(v_cache));
        ggml_build_forward_expand(gf, ggml_set_rows(ctx, flat, ggml_reshape_2d(ctx, v_rows, 1, E * T), io.v_elems));
    } else {
        // A run of contiguous cells (a prompt): one strided copy, much cheaper than E * T one-element rows.
        ggml_tensor * v_dst = ggml_view_2d(ctx, v_cache, T, E, v_cache->nb[1],
                                           size_t(shape.v_cell0) * ggml_element_size(v_cache));
        ggml_build_forward_expand(gf, ggml_cpy(ctx, ggml_transpose(ctx, v_rows), v_dst));
    }
    ggml_tensor * V = ggml_view_3d(ctx, v_cache, n_kv, d, H, v_cache->nb[1], d * v_cache->nb[1], 0); // [n_kv, d, H]

    // scores = softmax(Q.K / sqrt(d) + slope_h * (p_j - p_i)), -inf where the mask hides a cell.
    ggml_tensor * kq = ggml_mul_mat(ctx, K, Q);                                               // [n_kv, T, H]
    kq = ggml_soft_max_ext(ctx, kq, io.mask, kq_scale, alibi_max_bias);
    ggml_tensor * kqv = ggml_mul_mat(ctx, V, kq);                                             // [d, T, H]
    ggml_tensor * merged = ggml_cont(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3));               // [d, H, T]
    return ggml_reshape_2d(ctx, merged, E, T);
}

} // namespace

size_t graph_max_nodes(const model & m, const kv_cache & kv) {
    return 1024 + size_t(m.hp.n_layer) * (64 + 8 * size_t(kv.max_groups));
}

ggml_cgraph * build_graph(ggml_context * ctx, const model & m, const kv_cache & kv, graph_io & io,
                          const graph_shape & shape) {
    const hparams & hp = m.hp;
    const int n_tokens = shape.n_tokens, n_kv = shape.n_kv, n_outputs = shape.n_outputs;
    ggml_cgraph * gf = ggml_new_graph_custom(ctx, graph_max_nodes(m, kv), false);

    io.tokens = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_tokens);
    ggml_set_name(io.tokens, "inp_tokens");
    ggml_set_input(io.tokens);
    io.mask = nullptr;
    io.group_masks.clear();
    if (shape.groups.empty()) {
        io.mask = ggml_new_tensor_2d(ctx, kv.flash_attn ? GGML_TYPE_F16 : GGML_TYPE_F32, n_kv, n_tokens);
        ggml_set_name(io.mask, "inp_mask");
        ggml_set_input(io.mask);
    }
    for (const attn_group & grp : shape.groups) {
        ggml_tensor * mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, grp.n_kv, grp.n_q);
        ggml_format_name(mask, "inp_mask_%zu", io.group_masks.size());
        ggml_set_input(mask);
        io.group_masks.push_back(mask);
    }
    io.kv_rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, n_tokens);
    ggml_set_name(io.kv_rows, "inp_kv_rows");
    ggml_set_input(io.kv_rows);
    io.v_elems = nullptr;
    if (!kv.flash_attn && shape.v_cell0 < 0) {
        io.v_elems = ggml_new_tensor_1d(ctx, GGML_TYPE_I64, int64_t(hp.n_embd) * n_tokens);
        ggml_set_name(io.v_elems, "inp_v_elems");
        ggml_set_input(io.v_elems);
    }
    io.out_ids = nullptr;
    if (n_outputs < n_tokens) {
        io.out_ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, n_outputs);
        ggml_set_name(io.out_ids, "inp_out_ids");
        ggml_set_input(io.out_ids);
    }

    ggml_tensor * x = ggml_get_rows(ctx, m.tok_embd, io.tokens);                            // [E, T]
    x = build_norm(ctx, x, m.tok_norm, m.tok_norm_b, hp.norm_eps);

    for (int il = 0; il < hp.n_layer; ++il) {
        const layer & l = m.layers[size_t(il)];

        ggml_tensor * attn_in  = build_norm(ctx, x, l.attn_norm, l.attn_norm_b, hp.norm_eps);
        ggml_tensor * residual = hp.residual_post_ln ? attn_in : x;
        ggml_tensor * qkv      = build_linear(ctx, attn_in, l.wqkv, l.bqkv);                 // [3E, T]
        ggml_tensor * attn     = build_attn(ctx, gf, m, kv, io, il, qkv, shape);             // [E, T]
        attn = build_linear(ctx, attn, l.wo, l.bo);
        if (il == hp.n_layer - 1 && io.out_ids) {
            // Only some tokens' outputs are wanted (a prompt's last): the last block's MLP (two thirds of its work)
            // and everything after it run for those rows alone, as llama.cpp does. 2/(3 n_layer) of a prefill:
            // 2.8 % for bloom-560m.
            attn     = ggml_get_rows(ctx, attn, io.out_ids);                                  // [E, n_out]
            residual = ggml_get_rows(ctx, residual, io.out_ids);
        }
        x = ggml_add(ctx, attn, residual);

        ggml_tensor * ffn_in = build_norm(ctx, x, l.ffn_norm, l.ffn_norm_b, hp.norm_eps);
        residual = hp.residual_post_ln ? ffn_in : x;
        ggml_tensor * h = build_linear(ctx, ffn_in, l.ffn_up, l.ffn_up_b);                  // [4E, T]
        h = build_gelu_tanh(ctx, h);
        h = build_linear(ctx, h, l.ffn_down, l.ffn_down_b);                                  // [E, T]
        x = ggml_add(ctx, h, residual);
    }

    x = build_norm(ctx, x, m.output_norm, m.output_norm_b, hp.norm_eps);
    io.logits = ggml_mul_mat(ctx, m.output, x);                                              // [V, n_out]
    ggml_set_name(io.logits, "logits");
    ggml_set_output(io.logits);
    ggml_build_forward_expand(gf, io.logits);
    return gf;
}

} // namespace bloom
