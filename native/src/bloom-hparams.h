// BLOOM hyper-parameters, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>

namespace bloom {

struct hparams {
    int32_t n_vocab     = 0;
    int32_t n_embd      = 0;
    int32_t n_layer     = 0;
    int32_t n_head      = 0;
    int32_t n_ctx_train = 2048;
    float   norm_eps    = 1e-5f;
    bool    residual_post_ln = false;  // apply_residual_connection_post_layernorm

    int32_t head_dim() const { return n_embd / n_head; }

    // Reads dir/config.json. Accepts both spellings real checkpoints use (n_embed / hidden_size,
    // n_layer / num_hidden_layers, n_head / num_attention_heads). Throws bloom::error naming the key.
    static hparams load_hf(const std::string & config_path);
};

} // namespace bloom
