// Files the C++ tests write: tiny Hugging Face BLOOM checkpoints with random weights (config.json, safetensors,
// the tiny test tokenizer), shared by test-gguf and test-offload-rpc.
#pragma once

#include "bloom.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace bloom_test {

// The parameters a context runs with (bloom_context_get_params into a struct the default sized).
inline bloom_context_params resolved_params(const bloom_context * ctx) {
    bloom_context_params p = bloom_context_default_params();
    bloom_context_get_params(&p, ctx);
    return p;
}

using nlohmann::json;

inline std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const std::string & path, const std::string & bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

struct ck_spec {
    int  n_embd, n_head, n_layer, vocab_size;
    bool bf16, lm_head, prefix;
};

inline uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

// A Hugging Face BLOOM checkpoint directory with random weights, the tiny test tokenizer, and the HF names as written.
inline std::vector<std::string> write_checkpoint(const std::string & dir, const ck_spec & s, uint32_t seed) {
    ::mkdir(dir.c_str(), 0755);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    const int64_t E = s.n_embd, V = s.vocab_size;
    struct t { std::string name; std::vector<int64_t> shape; float scale, offset; };
    std::vector<t> ts;
    const std::string p = s.prefix ? "transformer." : "";
    ts.push_back({p + "word_embeddings.weight", {V, E}, 0.5f, 0.0f});
    ts.push_back({p + "word_embeddings_layernorm.weight", {E}, 0.2f, 1.0f});
    ts.push_back({p + "word_embeddings_layernorm.bias", {E}, 0.1f, 0.0f});
    for (int il = 0; il < s.n_layer; ++il) {
        const std::string h = p + "h." + std::to_string(il) + ".";
        ts.push_back({h + "input_layernorm.weight", {E}, 0.2f, 1.0f});
        ts.push_back({h + "input_layernorm.bias", {E}, 0.1f, 0.0f});
        ts.push_back({h + "self_attention.query_key_value.weight", {3 * E, E}, 0.15f, 0.0f});
        ts.push_back({h + "self_attention.query_key_value.bias", {3 * E}, 0.1f, 0.0f});
        ts.push_back({h + "self_attention.dense.weight", {E, E}, 0.1f, 0.0f});
        ts.push_back({h + "self_attention.dense.bias", {E}, 0.05f, 0.0f});
        ts.push_back({h + "post_attention_layernorm.weight", {E}, 0.2f, 1.0f});
        ts.push_back({h + "post_attention_layernorm.bias", {E}, 0.1f, 0.0f});
        ts.push_back({h + "mlp.dense_h_to_4h.weight", {4 * E, E}, 0.1f, 0.0f});
        ts.push_back({h + "mlp.dense_h_to_4h.bias", {4 * E}, 0.05f, 0.0f});
        ts.push_back({h + "mlp.dense_4h_to_h.weight", {E, 4 * E}, 0.05f, 0.0f});
        ts.push_back({h + "mlp.dense_4h_to_h.bias", {E}, 0.05f, 0.0f});
    }
    ts.push_back({p + "ln_f.weight", {E}, 0.2f, 1.0f});
    ts.push_back({p + "ln_f.bias", {E}, 0.1f, 0.0f});
    if (s.lm_head) ts.push_back({"lm_head.weight", {V, E}, 0.5f, 0.0f});

    json header = json::object();
    std::string data;
    std::vector<std::string> names;
    for (const t & x : ts) {
        int64_t n = 1;
        for (int64_t d : x.shape) n *= d;
        const size_t begin = data.size();
        for (int64_t i = 0; i < n; ++i) {
            const float v = x.offset + x.scale * uni(rng);
            if (s.bf16) {
                const uint16_t b = to_bf16(v);
                data.append(reinterpret_cast<const char *>(&b), 2);
            } else {
                data.append(reinterpret_cast<const char *>(&v), 4);
            }
        }
        header[x.name] = {{"dtype", s.bf16 ? "BF16" : "F32"}, {"shape", x.shape}, {"data_offsets", {begin, data.size()}}};
        names.push_back(x.name);
    }
    std::string h = header.dump();
    while (h.size() % 8) h += ' ';
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
    write_file(dir + "/model.safetensors", file + h + data);
    write_file(dir + "/config.json", json({{"model_type", "bloom"}, {"vocab_size", V}, {"hidden_size", E},
                                          {"n_layer", s.n_layer}, {"n_head", s.n_head}, {"layer_norm_epsilon", 1e-5},
                                          {"seq_length", 512}}).dump());
    write_file(dir + "/tokenizer.json", read_file(std::string(BLOOM_TEST_DATA_DIR) + "/bloom-tiny-tokenizer.json"));
    return names;
}

} // namespace bloom_test
