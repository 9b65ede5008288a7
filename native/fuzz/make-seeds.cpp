// Writes the fuzzers' seed corpora: tiny but valid inputs, so that mutation starts deep inside the readers rather
// than at their first magic-number check.
//   make-seeds OUT_DIR  ->  OUT_DIR/safetensors/*  (inputs of fuzz-safetensors, mode byte first)
//                           OUT_DIR/gguf/*         (inputs of fuzz-gguf)
// The safetensors files are laid out here by hand from the format's definition; the GGUF files go through ggml's
// own gguf writer with the keys and tensor names llama.cpp's convert_hf_to_gguf.py writes for BLOOM (its
// conversion/bloom.py), so neither depends on bloom4j's writers.
#include "fuzz-util.h"

#include "ggml.h"
#include "gguf.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace {

struct shape_t {
    int32_t n_vocab = bloom_fuzz::k_tiny_tokenizer_tokens;
    int32_t n_embd  = 4;
    int32_t n_head  = 2;
    int32_t n_layer = 1;
};

// Deterministic values in [-0.5, 0.5): seeds are the same on every run.
struct lcg {
    uint32_t s = 12345;
    float next() {
        s = s * 1664525u + 1013904223u;
        return float(s >> 8) / float(1u << 24) - 0.5f;
    }
};

// One BLOOM weight as Hugging Face names and shapes it (rows first); `norm` marks layer-norm gains, which are
// filled near 1.
struct hf_weight {
    std::string          name;
    std::vector<int64_t> shape;
    bool                 norm = false;
};

std::vector<hf_weight> hf_weights(const shape_t & s, bool lm_head) {
    const int64_t E = s.n_embd, V = s.n_vocab;
    std::vector<hf_weight> w = {
        {"word_embeddings.weight", {V, E}},
        {"word_embeddings_layernorm.weight", {E}, true},
        {"word_embeddings_layernorm.bias", {E}},
    };
    for (int il = 0; il < s.n_layer; ++il) {
        const std::string p = "h." + std::to_string(il) + ".";
        w.push_back({p + "input_layernorm.weight", {E}, true});
        w.push_back({p + "input_layernorm.bias", {E}});
        w.push_back({p + "self_attention.query_key_value.weight", {3 * E, E}});
        w.push_back({p + "self_attention.query_key_value.bias", {3 * E}});
        w.push_back({p + "self_attention.dense.weight", {E, E}});
        w.push_back({p + "self_attention.dense.bias", {E}});
        w.push_back({p + "post_attention_layernorm.weight", {E}, true});
        w.push_back({p + "post_attention_layernorm.bias", {E}});
        w.push_back({p + "mlp.dense_h_to_4h.weight", {4 * E, E}});
        w.push_back({p + "mlp.dense_h_to_4h.bias", {4 * E}});
        w.push_back({p + "mlp.dense_4h_to_h.weight", {E, 4 * E}});
        w.push_back({p + "mlp.dense_4h_to_h.bias", {E}});
    }
    w.push_back({"ln_f.weight", {E}, true});
    w.push_back({"ln_f.bias", {E}});
    if (lm_head) {
        w.push_back({"lm_head.weight", {V, E}});
    }
    return w;
}

std::vector<float> values(const hf_weight & w, lcg & rng) {
    int64_t n = 1;
    for (int64_t d : w.shape) {
        n *= d;
    }
    std::vector<float> v(static_cast<size_t>(n));
    for (float & x : v) {
        x = w.norm ? 1.0f + 0.1f * rng.next() : rng.next();
    }
    return v;
}

// ------------------------------------------------------------------ safetensors

struct st_entry {
    std::string          name;
    std::string          dtype;
    std::vector<int64_t> shape;
    std::string          bytes;
};

std::string encode(const std::vector<float> & v, const std::string & dtype) {
    std::string out;
    for (float x : v) {
        if (dtype == "F32") {
            out.append(reinterpret_cast<const char *>(&x), 4);
        } else {
            uint16_t h;
            if (dtype == "F16") {
                h = ggml_fp32_to_fp16(x);
            } else {  // BF16: the top half of the f32 bits (round to nearest even is not needed for seeds)
                uint32_t u;
                std::memcpy(&u, &x, 4);
                h = uint16_t(u >> 16);
            }
            out.append(reinterpret_cast<const char *>(&h), 2);
        }
    }
    return out;
}

std::string safetensors_file(const std::vector<st_entry> & entries, bool metadata) {
    std::string header = "{";
    std::string data;
    for (const st_entry & e : entries) {
        if (header.size() > 1) {
            header += ",";
        }
        header += "\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
        for (size_t i = 0; i < e.shape.size(); ++i) {
            header += (i ? "," : "") + std::to_string(e.shape[i]);
        }
        header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + e.bytes.size()) + "]}";
        data += e.bytes;
    }
    if (metadata) {
        header += std::string(header.size() > 1 ? "," : "") + "\"__metadata__\":{\"format\":\"pt\"}";
    }
    header += "}";
    // Writers pad the header with spaces to 8 bytes so that the data section is aligned.
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) {
        out[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
    }
    return out + header + data;
}

std::vector<st_entry> model_entries(const shape_t & s, const std::string & dtype, const std::string & prefix,
                                    bool lm_head) {
    lcg rng;
    std::vector<st_entry> out;
    for (const hf_weight & w : hf_weights(s, lm_head)) {
        const bool never_prefixed = w.name == "lm_head.weight";
        out.push_back({(never_prefixed ? "" : prefix) + w.name, dtype, w.shape, encode(values(w, rng), dtype)});
    }
    return out;
}

std::string config_json(const shape_t & s, bool hf_spelling, bool post_ln) {
    std::string c = "{\n  \"model_type\": \"bloom\",\n  \"architectures\": [\"BloomForCausalLM\"],\n";
    c += "  \"vocab_size\": " + std::to_string(s.n_vocab) + ",\n";
    if (hf_spelling) {
        c += "  \"hidden_size\": " + std::to_string(s.n_embd) + ",\n  \"num_hidden_layers\": " +
             std::to_string(s.n_layer) + ",\n  \"num_attention_heads\": " + std::to_string(s.n_head) + ",\n";
    } else {
        c += "  \"n_embed\": " + std::to_string(s.n_embd) + ",\n  \"n_layer\": " + std::to_string(s.n_layer) +
             ",\n  \"n_head\": " + std::to_string(s.n_head) + ",\n";
    }
    c += "  \"seq_length\": 8,\n  \"layer_norm_epsilon\": 1e-05,\n";
    c += std::string("  \"apply_residual_connection_post_layernorm\": ") + (post_ln ? "true" : "false") + "\n}\n";
    return c;
}

void write_seed(const std::string & dir, const std::string & name, char mode, const std::vector<std::string> & files) {
    std::string seed(1, mode);
    for (size_t i = 0; i < files.size(); ++i) {
        if (i) {
            seed += bloom_fuzz::k_file_separator;
        }
        seed += files[i];
    }
    bloom_fuzz::write_file(dir + "/" + name, seed);
}

void safetensors_seeds(const std::string & dir) {
    shape_t s1;
    shape_t s2;
    s2.n_layer = 2;
    const std::string f32  = safetensors_file(model_entries(s1, "F32", "", false), true);
    const std::string f16  = safetensors_file(model_entries(s1, "F16", "transformer.", true), false);
    const std::string bf16 = safetensors_file(model_entries(s2, "BF16", "", false), true);

    // Mode 0: single files, plus one with the dtypes and shapes bloom only lists (I8, a scalar, an empty tensor).
    write_seed(dir, "file-f32", 0, {f32});
    write_seed(dir, "file-f16", 0, {f16});
    write_seed(dir, "file-odd", 0, {safetensors_file({{"scalar", "F32", {}, std::string(4, '\1')},
                                                      {"empty", "F16", {0, 3}, ""},
                                                      {"ints", "I8", {2, 3}, "abcdef"},
                                                      {"bools", "BOOL", {1}, std::string(1, '\1')}}, true)});

    // Mode 1: config.json in both key spellings.
    write_seed(dir, "config-hf", 1, {config_json(s1, true, false)});
    write_seed(dir, "config-gpt", 1, {config_json(s2, false, true)});

    // Mode 2: whole checkpoints.
    write_seed(dir, "model-f32", 2, {config_json(s1, true, false), f32});
    write_seed(dir, "model-f16-lm-head", 2, {config_json(s1, false, false), f16});
    write_seed(dir, "model-bf16-2-layers", 2, {config_json(s2, true, true), bf16});

    // Mode 3: the f32 model split over two shards.
    const auto entries = model_entries(s1, "F32", "", false);
    const size_t half = entries.size() / 2;
    const std::vector<st_entry> a(entries.begin(), entries.begin() + long(half));
    const std::vector<st_entry> b(entries.begin() + long(half), entries.end());
    std::string index = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
    for (size_t i = 0; i < entries.size(); ++i) {
        index += std::string(i ? ", " : "") + "\"" + entries[i].name + "\": \"model-0000" + (i < half ? "1" : "2") +
                 "-of-00002.safetensors\"";
    }
    index += "}}";
    write_seed(dir, "sharded-f32", 3, {index, safetensors_file(a, true), safetensors_file(b, true)});
}

// ------------------------------------------------------------------ GGUF

// The HF name -> GGUF name map of llama.cpp's tensor_mapping.py, for the names BLOOM uses.
std::string gguf_name(const std::string & hf) {
    static const std::pair<const char *, const char *> fixed[] = {
        {"word_embeddings.weight", "token_embd.weight"},
        {"word_embeddings_layernorm.weight", "token_embd_norm.weight"},
        {"word_embeddings_layernorm.bias", "token_embd_norm.bias"},
        {"ln_f.weight", "output_norm.weight"},
        {"ln_f.bias", "output_norm.bias"},
        {"lm_head.weight", "output.weight"},
    };
    for (const auto & [from, to] : fixed) {
        if (hf == from) {
            return to;
        }
    }
    static const std::pair<const char *, const char *> per_layer[] = {
        {"input_layernorm", "attn_norm"},
        {"self_attention.query_key_value", "attn_qkv"},
        {"self_attention.dense", "attn_output"},
        {"post_attention_layernorm", "ffn_norm"},
        {"mlp.dense_h_to_4h", "ffn_up"},
        {"mlp.dense_4h_to_h", "ffn_down"},
    };
    const size_t dot1 = hf.find('.');
    const size_t dot2 = hf.find('.', dot1 + 1);
    const std::string layer = hf.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string rest  = hf.substr(dot2 + 1);
    for (const auto & [from, to] : per_layer) {
        const std::string f = from;
        if (rest.compare(0, f.size(), f) == 0) {
            return "blk." + layer + "." + to + rest.substr(f.size());
        }
    }
    std::fprintf(stderr, "make-seeds: no GGUF name for %s\n", hf.c_str());
    std::exit(1);
}

// HF's fused QKV rows are per head [q, k, v]; the converter regroups them as [all q; all k; all v].
std::vector<float> regroup_qkv(const std::vector<float> & v, const shape_t & s, int64_t row_len) {
    const int64_t hd = s.n_embd / s.n_head;
    std::vector<float> out(v.size());
    for (int64_t h = 0; h < s.n_head; ++h) {
        for (int64_t part = 0; part < 3; ++part) {
            for (int64_t r = 0; r < hd; ++r) {
                const int64_t from = (h * 3 + part) * hd + r;
                const int64_t to   = part * s.n_embd + h * hd + r;
                std::memcpy(&out[size_t(to * row_len)], &v[size_t(from * row_len)], size_t(row_len) * sizeof(float));
            }
        }
    }
    return out;
}

// A GGUF BLOOM model: matrices in `matrix_type` (F32, F16, BF16, Q8_0, Q4_0, ...; n_embd must suit its block
// size) except ffn_down in `ffn_down_type` (a mix, as llama-quantize's K-quant presets write), vectors in F32 as
// llama.cpp's converter keeps them.
void gguf_model(const std::string & path, const shape_t & s, ggml_type matrix_type, bool lm_head, uint32_t file_type,
                ggml_type ffn_down_type = GGML_TYPE_COUNT) {
    const auto weights = hf_weights(s, lm_head);
    ggml_init_params ip = {ggml_tensor_overhead() * (weights.size() + 1), nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    gguf_context * g = gguf_init_empty();

    gguf_set_val_str(g, "general.architecture", "bloom");
    gguf_set_val_str(g, "general.type", "model");
    gguf_set_val_str(g, "general.name", "bloom fuzz seed");
    gguf_set_val_u32(g, "bloom.context_length", 8);
    gguf_set_val_u32(g, "bloom.embedding_length", uint32_t(s.n_embd));
    gguf_set_val_u32(g, "bloom.feed_forward_length", uint32_t(4 * s.n_embd));
    gguf_set_val_u32(g, "bloom.block_count", uint32_t(s.n_layer));
    gguf_set_val_u32(g, "bloom.attention.head_count", uint32_t(s.n_head));
    gguf_set_val_u32(g, "bloom.attention.head_count_kv", uint32_t(s.n_head));
    gguf_set_val_f32(g, "bloom.attention.layer_norm_epsilon", 1e-5f);
    gguf_set_val_u32(g, "general.file_type", file_type);
    gguf_set_val_u32(g, "general.quantization_version", 2);

    // The tiny tokenizer of fuzz-util.cpp as llama.cpp's gpt2 vocab keys.
    const char * tokens[] = {"<unk>", "<s>", "</s>", "<pad>", "a", "b", "c", "\xc4\xa0", "ab", "\xc4\xa0" "a",
                             "!", ".", "h", "e", "l", "o"};
    static_assert(sizeof(tokens) / sizeof(tokens[0]) == bloom_fuzz::k_tiny_tokenizer_tokens);
    int32_t types[bloom_fuzz::k_tiny_tokenizer_tokens];
    for (int i = 0; i < bloom_fuzz::k_tiny_tokenizer_tokens; ++i) {
        types[i] = i < 4 ? 3 : 1;  // CONTROL for the special tokens, NORMAL for the rest
    }
    const char * merges[] = {"a b", "\xc4\xa0 a"};
    gguf_set_val_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(g, "tokenizer.ggml.pre", "bloom");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens, bloom_fuzz::k_tiny_tokenizer_tokens);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, bloom_fuzz::k_tiny_tokenizer_tokens);
    gguf_set_arr_str(g, "tokenizer.ggml.merges", merges, 2);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", 2);
    gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", 3);

    lcg rng;
    std::vector<std::vector<uint8_t>> storage;  // tensor data must outlive gguf_write_to_file
    for (const hf_weight & w : weights) {
        std::vector<float> v = values(w, rng);
        const bool matrix = w.shape.size() == 2;
        const int64_t ne0 = w.shape.back();
        const int64_t ne1 = matrix ? w.shape[0] : 1;
        if (w.name.find("query_key_value") != std::string::npos) {
            v = regroup_qkv(v, s, matrix ? ne0 : 1);
        }
        const bool ffn_down = w.name.find("dense_4h_to_h.weight") != std::string::npos;
        const ggml_type type = !matrix ? GGML_TYPE_F32 : ffn_down && ffn_down_type != GGML_TYPE_COUNT ? ffn_down_type
                                                                                                   : matrix_type;
        ggml_tensor * t = matrix ? ggml_new_tensor_2d(ctx, type, ne0, ne1) : ggml_new_tensor_1d(ctx, type, ne0);
        ggml_set_name(t, gguf_name(w.name).c_str());
        storage.emplace_back(ggml_nbytes(t));
        uint8_t * dst = storage.back().data();
        if (type == GGML_TYPE_F32) {
            std::memcpy(dst, v.data(), v.size() * 4);
        } else if (type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(v.data(), reinterpret_cast<ggml_fp16_t *>(dst), int64_t(v.size()));
        } else if (type == GGML_TYPE_BF16) {
            ggml_fp32_to_bf16_row(v.data(), reinterpret_cast<ggml_bf16_t *>(dst), int64_t(v.size()));
        } else {
            ggml_quantize_chunk(type, v.data(), dst, 0, ne1, ne0, nullptr);
        }
        t->data = dst;
        gguf_add_tensor(g, t);
    }
    if (!gguf_write_to_file(g, path.c_str(), false)) {
        std::fprintf(stderr, "make-seeds: cannot write %s\n", path.c_str());
        std::exit(1);
    }
    gguf_free(g);
    ggml_free(ctx);
}

void gguf_seeds(const std::string & dir) {
    shape_t s1;
    shape_t s2;
    s2.n_layer = 2;
    shape_t q;  // quantized matrices need rows that are whole 32-element blocks
    q.n_embd = 32;
    q.n_head = 4;
    // general.file_type as llama.cpp numbers it: 0 ALL_F32, 1 MOSTLY_F16, 7 MOSTLY_Q8_0, 2 MOSTLY_Q4_0, 32 MOSTLY_BF16,
    // 15 MOSTLY_Q4_K_M.
    gguf_model(dir + "/f32.gguf", s1, GGML_TYPE_F32, false, 0);
    gguf_model(dir + "/f16-output.gguf", s1, GGML_TYPE_F16, true, 1);
    gguf_model(dir + "/bf16-2-layers.gguf", s2, GGML_TYPE_BF16, false, 32);
    gguf_model(dir + "/q8_0.gguf", q, GGML_TYPE_Q8_0, false, 7);
    gguf_model(dir + "/q4_0.gguf", q, GGML_TYPE_Q4_0, false, 2);
    // K-quants work on 256-element blocks: with n_embd 64, ffn_down's rows (4 * 64) are the only ones that fit.
    shape_t k;
    k.n_embd = 64;
    k.n_head = 4;
    gguf_model(dir + "/q4_0-ffn-down-q4_k.gguf", k, GGML_TYPE_Q4_0, false, 15, GGML_TYPE_Q4_K);
}

void make_dir(const std::string & path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "make-seeds: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
    }
}

} // namespace

int main(int argc, char ** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make-seeds OUT_DIR\n");
        return 2;
    }
    const std::string out = argv[1];
    make_dir(out);
    make_dir(out + "/safetensors");
    make_dir(out + "/gguf");
    safetensors_seeds(out + "/safetensors");
    gguf_seeds(out + "/gguf");
    return 0;
}
