// The model: hyper-parameters, tokenizer, and a table of ggml tensors bound to the weights. Loaders fill
// the table; the graph reads it and never learns which file format it came from.
#pragma once

#include "bloom.h"
#include "bloom-hparams.h"
#include "bloom-safetensors.h"
#include "bloom-vocab.h"

#include "ggml.h"
#include "ggml-backend.h"

#include <memory>
#include <string>
#include <vector>

namespace bloom {

struct layer {
    ggml_tensor * attn_norm   = nullptr;  // input_layernorm          [n_embd]
    ggml_tensor * attn_norm_b = nullptr;
    ggml_tensor * wqkv        = nullptr;  // query_key_value          [n_embd, 3*n_embd] (ggml order: in, out)
    ggml_tensor * bqkv        = nullptr;  //                          [3*n_embd]
    ggml_tensor * wo          = nullptr;  // dense                    [n_embd, n_embd]
    ggml_tensor * bo          = nullptr;
    ggml_tensor * ffn_norm    = nullptr;  // post_attention_layernorm [n_embd]
    ggml_tensor * ffn_norm_b  = nullptr;
    ggml_tensor * ffn_up      = nullptr;  // dense_h_to_4h            [n_embd, 4*n_embd]
    ggml_tensor * ffn_up_b    = nullptr;
    ggml_tensor * ffn_down    = nullptr;  // dense_4h_to_h            [4*n_embd, n_embd]
    ggml_tensor * ffn_down_b  = nullptr;
};

struct model {
    hparams                hp;
    std::unique_ptr<vocab> tokenizer;
    bloom_dtype            weight_dtype = BLOOM_DTYPE_F32;
    int64_t                n_params     = 0;
    // true: query_key_value rows are per head [q, k, v] (Hugging Face); false: [all q; all k; all v].
    bool                   qkv_interleaved = true;

    ggml_tensor *      tok_embd     = nullptr;  // word_embeddings           [n_embd, n_vocab]
    ggml_tensor *      tok_norm     = nullptr;  // word_embeddings_layernorm [n_embd]
    ggml_tensor *      tok_norm_b   = nullptr;
    std::vector<layer> layers;
    ggml_tensor *      output_norm   = nullptr; // ln_f
    ggml_tensor *      output_norm_b = nullptr;
    ggml_tensor *      output        = nullptr; // lm_head, or tok_embd when tied

    // Storage. The mapped buffers alias the checkpoint's files, which must outlive them.
    std::unique_ptr<st_checkpoint>     checkpoint;
    ggml_context *                     ctx_mapped = nullptr;  // metadata of tensors used in place
    ggml_context *                     ctx_owned  = nullptr;  // metadata of tensors converted on load
    std::vector<ggml_backend_buffer_t> buffers;

    model() = default;
    model(const model &) = delete;
    model & operator=(const model &) = delete;
    ~model();

    // Loads a Hugging Face checkpoint directory. Throws bloom::error.
    static std::unique_ptr<model> load_hf(const std::string & dir, const bloom_model_params & params);
};

} // namespace bloom
