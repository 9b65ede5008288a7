// GGUF reading, writing and bloom_convert, on tiny random BLOOM checkpoints written here:
//  - "wide": n_embd 256 (K-quants fit its rows), 2 layers, tied embeddings, f32, vocab padded to 1024 like BLOOM's;
//  - "narrow": n_embd 64, 3 layers, its own lm_head, bf16, "transformer."-prefixed names, so the K-quant mixes fall
//    back to other types and the output tensor exists.
// Checked: Hugging Face -> GGUF f32/bf16 gives the same logits as the checkpoint itself (qkv rows reordered);
// every file type loads and stays within a stated tolerance of f32 (errors printed); the keys, the tensor order and
// the per-tensor types are those of llama.cpp's converter and llama-quantize (expected values derived by hand from
// convert_hf_to_gguf.py and llama-quant.cpp); GGUF -> GGUF requantization; the tokenizer survives the round trip on
// all golden cases; no matrix is copied on load; hostile files and bad arguments give clean errors naming the problem.
#include "bloom-context.h"
#include "bloom-convert.h"
#include "bloom-error.h"
#include "bloom-gguf.h"
#include "bloom-model.h"
#include "bloom-vocab.h"

#include "check.h"
#include "checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <malloc.h>
#include <map>
#include <random>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using nlohmann::json;
using namespace bloom_test;

namespace {

std::string g_dir;

bool exists(const std::string & path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// Expects f to throw bloom::error with this status and a message containing needle.
void expect_error(const char * what, bloom_status status, const std::string & needle, const std::function<void()> & f) {
    try {
        f();
        ++g_failures;
        std::fprintf(stderr, "%s: no error (expected '%s')\n", what, needle.c_str());
    } catch (const bloom::error & e) {
        if (e.status() != status || std::string(e.what()).find(needle) == std::string::npos) {
            ++g_failures;
            std::fprintf(stderr, "%s: got status %d '%s', expected status %d containing '%s'\n", what, e.status(),
                         e.what(), status, needle.c_str());
        }
    }
}

// ------------------------------------------------------------------------------------------ running models

bloom_model * load(const std::string & path, bool use_mmap = true) {
    bloom_model_params p = bloom_model_default_params();
    p.use_mmap = use_mmap;
    bloom_model * m = nullptr;
    const int32_t st = bloom_model_load(&m, path.c_str(), path.size(), &p);
    if (st != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "load %s: %s\n", path.c_str(), bloom_last_error());
    }
    return m;
}

std::vector<int32_t> g_prompt;  // token ids of a fixed text

// Logits of every prompt position.
std::vector<float> logits_of(bloom_model * m) {
    if (!m) return {};
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_threads = 2;
    bloom_context * ctx = nullptr;
    CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_OK);
    CHECK_EQ(bloom_context_decode(ctx, g_prompt.data(), g_prompt.size(), true), BLOOM_OK);
    const float * l = nullptr;
    size_t rows = 0;
    CHECK_EQ(bloom_context_get_logits(&l, &rows, ctx), BLOOM_OK);
    bloom_model_info info;
    bloom_model_get_info(&info, m);
    std::vector<float> out(l, l + rows * size_t(info.n_vocab));
    bloom_context_free(ctx);
    return out;
}

std::vector<float> logits_of(const std::string & path) {
    bloom_model * m = load(path);
    std::vector<float> l = logits_of(m);
    bloom_model_free(m);
    return l;
}

void convert_ok(const std::string & in, const std::string & out, int32_t ftype) {
    bloom_convert_params p = bloom_convert_default_params();
    p.ftype = ftype;
    p.n_threads = 2;
    if (bloom_convert(in.c_str(), in.size(), out.c_str(), out.size(), &p) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "convert %s -> %s (%s): %s\n", in.c_str(), out.c_str(), bloom_ftype_name(ftype),
                     bloom_last_error());
    }
}

std::map<std::string, ggml_type> types_of(const std::string & path) {
    std::map<std::string, ggml_type> out;
    auto f = bloom::gguf_file::open(path, true);
    for (const auto & t : f->tensors()) out[t.name] = t.type;
    return out;
}

std::vector<std::string> tensor_names(const std::string & path) {
    std::vector<std::string> out;
    auto f = bloom::gguf_file::open(path, true);
    for (const auto & t : f->tensors()) out.push_back(t.name);
    return out;
}

std::vector<std::string> keys_of(const std::string & path) {
    std::vector<std::string> out;
    auto f = bloom::gguf_file::open(path, true);
    for (int64_t i = 0; i < gguf_get_n_kv(f->ctx()); ++i) out.push_back(gguf_get_key(f->ctx(), i));
    return out;
}

std::string show(const std::vector<std::string> & v) {
    std::string s;
    for (const auto & x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

// The GGUF name of a Hugging Face BLOOM tensor (convert_hf_to_gguf.py's tensor map for BLOOM), written out again here.
std::string gguf_name_of(std::string hf) {
    if (hf.rfind("transformer.", 0) == 0) hf = hf.substr(12);
    static const std::pair<const char *, const char *> fixed[] = {
        {"word_embeddings.weight", "token_embd.weight"}, {"word_embeddings_layernorm.weight", "token_embd_norm.weight"},
        {"word_embeddings_layernorm.bias", "token_embd_norm.bias"}, {"ln_f.weight", "output_norm.weight"},
        {"ln_f.bias", "output_norm.bias"}, {"lm_head.weight", "output.weight"},
    };
    for (const auto & [a, b] : fixed) {
        if (hf == a) return b;
    }
    static const std::pair<const char *, const char *> per_layer[] = {
        {"input_layernorm", "attn_norm"}, {"self_attention.query_key_value", "attn_qkv"},
        {"self_attention.dense", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
        {"mlp.dense_h_to_4h", "ffn_up"}, {"mlp.dense_4h_to_h", "ffn_down"},
    };
    const size_t dot = hf.find('.', 2);
    const std::string layer = hf.substr(2, dot - 2), rest = hf.substr(dot + 1);
    for (const auto & [a, b] : per_layer) {
        const std::string pa = std::string(a) + ".";
        if (rest.rfind(pa, 0) == 0) return "blk." + layer + "." + b + "." + rest.substr(pa.size());
    }
    return "?" + hf;
}

// ------------------------------------------------------------------------------------------ rewriting GGUF files

// Copies a GGUF file through the writer, letting edit() change the metadata and retype() the declared types.
void rewrite(const std::string & src, const std::string & dst, const std::function<void(gguf_context *)> & edit,
             const std::function<ggml_type(const std::string &, ggml_type)> & retype = nullptr,
             bool extra_tensor = false) {
    auto f = bloom::gguf_file::open(src, true);
    bloom::gguf_writer w(dst);
    gguf_set_kv(w.meta(), f->ctx());
    if (edit) edit(w.meta());
    std::vector<std::pair<const bloom::gguf_tensor *, ggml_type>> ts;
    for (const auto & t : f->tensors()) {
        const ggml_type ty = retype ? retype(t.name, t.type) : t.type;
        w.add_tensor(t.name, ty, std::vector<int64_t>(t.ne, t.ne + t.n_dims));
        ts.push_back({&t, ty});
    }
    if (extra_tensor) w.add_tensor("blk.0.attn_q.weight", GGML_TYPE_F32, {4, 4});
    w.begin();
    for (const auto & [t, ty] : ts) {
        const size_t n = ggml_row_size(ty, t->ne[0]) * size_t(t->ne[1] * t->ne[2] * t->ne[3]);
        std::vector<uint8_t> bytes(n, 0);
        std::memcpy(bytes.data(), t->data, std::min(n, t->n_bytes));
        w.write_data(bytes.data(), n);
        w.end_tensor();
    }
    if (extra_tensor) {
        std::vector<float> z(16, 0.0f);
        w.write_data(z.data(), 64);
        w.end_tensor();
    }
    w.commit();
}

} // namespace

// ------------------------------------------------------------------------------------------ tests

namespace {

std::string g_wide, g_narrow;  // checkpoint directories
std::vector<std::string> g_narrow_names;

// Hugging Face -> GGUF f32 and bf16: the same weights, so the same logits; and the converter's layout.
void test_convert_exact() {
    const std::string f32 = g_dir + "/wide-f32.gguf";
    convert_ok(g_wide, f32, BLOOM_FTYPE_F32);
    const std::vector<float> hf = logits_of(g_wide), gg = logits_of(f32);
    const double d = max_abs_diff(hf, gg);
    std::printf("wide: HF f32 vs GGUF f32: max |logit diff| %.3g (logit range %.3g)\n", d, range_of(hf));
    CHECK(d <= 1e-5);

    // Model info is the same either way (n_ctx_train aside: the converter writes config.json's seq_length).
    bloom_model * a = load(g_wide);
    bloom_model * b = load(f32);
    if (a && b) {
        bloom_model_info ia, ib;
        bloom_model_get_info(&ia, a);
        bloom_model_get_info(&ib, b);
        CHECK_EQ(ia.n_vocab, ib.n_vocab);
        CHECK_EQ(ia.n_vocab_tokens, ib.n_vocab_tokens);
        CHECK_EQ(ia.n_params, ib.n_params);
        CHECK_EQ(ia.n_layer, ib.n_layer);
        CHECK_EQ(ia.n_head, ib.n_head);
        CHECK_EQ(ia.bos_token, ib.bos_token);
        CHECK_EQ(ia.eos_token, ib.eos_token);
        CHECK_EQ(ia.pad_token, ib.pad_token);
        CHECK_EQ(ia.unk_token, ib.unk_token);
        CHECK_EQ(ib.n_ctx_train, 512);
        CHECK_EQ(ib.weight_dtype, int32_t(BLOOM_DTYPE_F32));
        CHECK_NEAR(ib.layer_norm_eps, 1e-5, 1e-12);
    }
    bloom_model_free(a);
    bloom_model_free(b);

    // qkv rows: GGUF row s*E + h*D + d is HF row h*3D + s*D + d (and the bias alike).
    {
        auto st = bloom::st_checkpoint::open_dir(g_wide, true);
        auto gf = bloom::gguf_file::open(f32, true);
        const int64_t E = 256, D = 64;
        const bloom::st_tensor * hw = st->find("h.1.self_attention.query_key_value.weight");
        const bloom::st_tensor * hb = st->find("h.1.self_attention.query_key_value.bias");
        const bloom::gguf_tensor * gw = gf->find_tensor("blk.1.attn_qkv.weight");
        const bloom::gguf_tensor * gb = gf->find_tensor("blk.1.attn_qkv.bias");
        CHECK(hw && hb && gw && gb);
        if (hw && hb && gw && gb) {
            int bad = 0;
            for (int64_t s = 0; s < 3; ++s) {
                for (int64_t h = 0; h < 4; ++h) {
                    for (int64_t dd = 0; dd < D; dd += 7) {
                        const int64_t out = s * E + h * D + dd, in = h * 3 * D + s * D + dd;
                        bad += std::memcmp(gw->data + out * E * 4, hw->data + in * E * 4, size_t(E) * 4) != 0;
                        bad += std::memcmp(gb->data + out * 4, hb->data + in * 4, 4) != 0;
                    }
                }
            }
            CHECK_EQ(bad, 0);
        }
    }

    // The converter's keys, in its order.
    const std::vector<std::string> want_keys = {
        "general.architecture", "general.type", "general.name", "general.size_label", "bloom.context_length",
        "bloom.embedding_length", "bloom.feed_forward_length", "bloom.block_count", "bloom.attention.head_count",
        "bloom.attention.head_count_kv", "bloom.attention.layer_norm_epsilon", "general.file_type",
        "general.quantization_version", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
    };
    const std::vector<std::string> keys = keys_of(f32);
    if (keys != want_keys) {
        ++g_failures;
        std::fprintf(stderr, "keys:\n  got  %s\n  want %s\n", show(keys).c_str(), show(want_keys).c_str());
    }
    {
        auto gf = bloom::gguf_file::open(f32, true);
        CHECK_EQ(gf->get_string("general.name"), std::string("Wide"));  // the converter's id_to_title
        CHECK_EQ(gf->get_string("general.size_label"), std::string("1.8M"));  // 1,840,384 parameters
        CHECK_EQ(+*gf->get_uint("general.file_type", 100), uint64_t(0));
        CHECK_EQ(+*gf->get_uint("bloom.feed_forward_length", 1u << 20), uint64_t(1024));
        const auto tokens = gf->get_string_array("tokenizer.ggml.tokens");
        const auto types = gf->get_int_array("tokenizer.ggml.token_type");
        CHECK_EQ(tokens.size(), size_t(1024));
        CHECK_EQ(types.size(), size_t(1024));
        if (tokens.size() == 1024 && types.size() == 1024) {
            CHECK_EQ(tokens[1], std::string("<s>"));
            CHECK_EQ(types[1], int64_t(3));     // control
            CHECK_EQ(types[36], int64_t(1));    // normal
            CHECK_EQ(tokens[1000], std::string("[PAD1000]"));
            CHECK_EQ(types[1023], int64_t(5));  // unused
        }
        CHECK_EQ(gf->get_string_array("tokenizer.ggml.merges").size(), size_t(740));
    }

    // narrow: bf16 stays bf16, lm_head becomes output.weight, tensors in the order of the sorted HF names.
    const std::string bf16 = g_dir + "/narrow-bf16.gguf";
    convert_ok(g_narrow, bf16, BLOOM_FTYPE_BF16);
    const std::vector<float> nh = logits_of(g_narrow), ng = logits_of(bf16);
    const double dn = max_abs_diff(nh, ng);
    std::printf("narrow: HF bf16 vs GGUF bf16: max |logit diff| %.3g (logit range %.3g)\n", dn, range_of(nh));
    CHECK(dn <= 1e-5);
    std::vector<std::string> sorted = g_narrow_names, want;
    std::sort(sorted.begin(), sorted.end());
    for (const auto & n : sorted) want.push_back(gguf_name_of(n));
    const std::vector<std::string> got = tensor_names(bf16);
    if (got != want) {
        ++g_failures;
        std::fprintf(stderr, "converter tensor order:\n  got  %s\n  want %s\n", show(got).c_str(), show(want).c_str());
    }
    for (const auto & [name, type] : types_of(bf16)) {
        const bool matrix = name.find("norm") == std::string::npos && name.find(".bias") == std::string::npos;
        if (type != (matrix ? GGML_TYPE_BF16 : GGML_TYPE_F32)) {
            ++g_failures;
            std::fprintf(stderr, "bf16 file: %s is %s\n", name.c_str(), ggml_type_name(type));
        }
    }
}

// Every file type from the same f32 checkpoint: loads, runs, and stays within a tolerance of f32.
void test_file_types() {
    const std::vector<float> ref = logits_of(g_wide);
    const double range = range_of(ref);
    // Tolerances, as a fraction of the logit range, about 3x what was measured (printed below).
    const std::pair<int32_t, double> cases[] = {
        {BLOOM_FTYPE_F16, 0.002}, {BLOOM_FTYPE_BF16, 0.02}, {BLOOM_FTYPE_Q8_0, 0.02}, {BLOOM_FTYPE_Q4_0, 0.15},
        {BLOOM_FTYPE_Q4_1, 0.15}, {BLOOM_FTYPE_Q5_0, 0.08}, {BLOOM_FTYPE_Q5_1, 0.08}, {BLOOM_FTYPE_Q2_K, 0.4},
        {BLOOM_FTYPE_Q3_K_S, 0.3}, {BLOOM_FTYPE_Q3_K_M, 0.3}, {BLOOM_FTYPE_Q3_K_L, 0.3}, {BLOOM_FTYPE_Q4_K_S, 0.15},
        {BLOOM_FTYPE_Q4_K_M, 0.15}, {BLOOM_FTYPE_Q5_K_S, 0.08}, {BLOOM_FTYPE_Q5_K_M, 0.08}, {BLOOM_FTYPE_Q6_K, 0.04},
    };
    std::printf("wide (n_embd 256, 2 layers), logits vs f32 over %zu positions, logit range %.3f:\n", g_prompt.size(),
                range);
    for (const auto & [ftype, tol] : cases) {
        const std::string path = g_dir + "/wide-" + bloom_ftype_name(ftype) + ".gguf";
        convert_ok(g_wide, path, ftype);
        const double d = max_abs_diff(ref, logits_of(path));
        std::printf("  %-7s max |diff| %.5f = %.4f of the range (tolerance %.3f), %zu bytes\n", bloom_ftype_name(ftype),
                    d, d / range, tol, size_t(read_file(path).size()));
        if (!(d / range <= tol)) {
            ++g_failures;
            std::fprintf(stderr, "%s: logits off by %g of the range\n", bloom_ftype_name(ftype), d / range);
        }
    }
}

// llama-quantize's per-tensor choices, derived by hand from llama-quant.cpp for these shapes.
void test_type_mixes() {
    auto expect = [](const std::string & path, const std::map<std::string, ggml_type> & want) {
        const auto got = types_of(path);
        for (const auto & [name, type] : got) {
            ggml_type w = GGML_TYPE_F32;  // vectors and norms
            if (auto it = want.find(name); it != want.end()) w = it->second;
            if (type != w) {
                ++g_failures;
                std::fprintf(stderr, "%s: %s is %s, expected %s\n", path.c_str(), name.c_str(), ggml_type_name(type),
                             ggml_type_name(w));
            }
        }
    };
    // wide q4_k_m: tied embedding -> Q6_K (output's type); qkv and ffn_down use_more_bits(i, 2) only for layer 1.
    expect(g_dir + "/wide-q4_k_m.gguf", {
        {"token_embd.weight", GGML_TYPE_Q6_K},
        {"blk.0.attn_qkv.weight", GGML_TYPE_Q4_K}, {"blk.1.attn_qkv.weight", GGML_TYPE_Q6_K},
        {"blk.0.attn_output.weight", GGML_TYPE_Q4_K}, {"blk.1.attn_output.weight", GGML_TYPE_Q4_K},
        {"blk.0.ffn_up.weight", GGML_TYPE_Q4_K}, {"blk.1.ffn_up.weight", GGML_TYPE_Q4_K},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q4_K}, {"blk.1.ffn_down.weight", GGML_TYPE_Q6_K}});
    // wide q3_k_m: qkv Q5_K for the first two, attn_output Q4_K, ffn_down Q4_K (no layer below n/16).
    expect(g_dir + "/wide-q3_k_m.gguf", {
        {"token_embd.weight", GGML_TYPE_Q6_K},
        {"blk.0.attn_qkv.weight", GGML_TYPE_Q5_K}, {"blk.1.attn_qkv.weight", GGML_TYPE_Q5_K},
        {"blk.0.attn_output.weight", GGML_TYPE_Q4_K}, {"blk.1.attn_output.weight", GGML_TYPE_Q4_K},
        {"blk.0.ffn_up.weight", GGML_TYPE_Q3_K}, {"blk.1.ffn_up.weight", GGML_TYPE_Q3_K},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q4_K}, {"blk.1.ffn_down.weight", GGML_TYPE_Q4_K}});
    // wide q2_k: qkv, attn_output and ffn_down one step up to Q3_K.
    expect(g_dir + "/wide-q2_k.gguf", {
        {"token_embd.weight", GGML_TYPE_Q6_K},
        {"blk.0.attn_qkv.weight", GGML_TYPE_Q3_K}, {"blk.1.attn_qkv.weight", GGML_TYPE_Q3_K},
        {"blk.0.attn_output.weight", GGML_TYPE_Q3_K}, {"blk.1.attn_output.weight", GGML_TYPE_Q3_K},
        {"blk.0.ffn_up.weight", GGML_TYPE_Q2_K}, {"blk.1.ffn_up.weight", GGML_TYPE_Q2_K},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q3_K}, {"blk.1.ffn_down.weight", GGML_TYPE_Q3_K}});
    // wide q4_0: the tied embedding still gets Q6_K.
    expect(g_dir + "/wide-q4_0.gguf", {
        {"token_embd.weight", GGML_TYPE_Q6_K},
        {"blk.0.attn_qkv.weight", GGML_TYPE_Q4_0}, {"blk.1.attn_qkv.weight", GGML_TYPE_Q4_0},
        {"blk.0.attn_output.weight", GGML_TYPE_Q4_0}, {"blk.1.attn_output.weight", GGML_TYPE_Q4_0},
        {"blk.0.ffn_up.weight", GGML_TYPE_Q4_0}, {"blk.1.ffn_up.weight", GGML_TYPE_Q4_0},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q4_0}, {"blk.1.ffn_down.weight", GGML_TYPE_Q4_0}});

    // narrow q4_k_m (rows of 64: K-quants do not fit): Q4_K -> Q5_0, Q6_K -> Q8_0; ffn_down's rows of 256 fit;
    // the output gets Q8_0 (64 % 256), the untied embedding the default type, which falls back.
    const std::string nq = g_dir + "/narrow-q4_k_m.gguf";
    convert_ok(g_narrow, nq, BLOOM_FTYPE_Q4_K_M);
    expect(nq, {
        {"output.weight", GGML_TYPE_Q8_0}, {"token_embd.weight", GGML_TYPE_Q5_0},
        {"blk.0.attn_qkv.weight", GGML_TYPE_Q5_0}, {"blk.1.attn_qkv.weight", GGML_TYPE_Q5_0},
        {"blk.2.attn_qkv.weight", GGML_TYPE_Q8_0},
        {"blk.0.attn_output.weight", GGML_TYPE_Q5_0}, {"blk.1.attn_output.weight", GGML_TYPE_Q5_0},
        {"blk.2.attn_output.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_up.weight", GGML_TYPE_Q5_0}, {"blk.1.ffn_up.weight", GGML_TYPE_Q5_0},
        {"blk.2.ffn_up.weight", GGML_TYPE_Q5_0},
        {"blk.0.ffn_down.weight", GGML_TYPE_Q4_K}, {"blk.1.ffn_down.weight", GGML_TYPE_Q4_K},
        {"blk.2.ffn_down.weight", GGML_TYPE_Q6_K}});
    // narrow q4_0: the untied embedding keeps Q4_0, the output's Q6_K falls back to Q8_0.
    const std::string n40 = g_dir + "/narrow-q4_0.gguf";
    convert_ok(g_narrow, n40, BLOOM_FTYPE_Q4_0);
    std::map<std::string, ggml_type> w40;
    for (int il = 0; il < 3; ++il) {
        for (const char * t : {"attn_qkv", "attn_output", "ffn_up", "ffn_down"}) {
            w40["blk." + std::to_string(il) + "." + t + ".weight"] = GGML_TYPE_Q4_0;
        }
    }
    w40["token_embd.weight"] = GGML_TYPE_Q4_0;
    w40["output.weight"] = GGML_TYPE_Q8_0;
    expect(n40, w40);

    // llama-quantize's order: tensors outside the blocks by name, then block by block, each by name.
    const std::vector<std::string> got = tensor_names(nq);
    std::vector<std::string> want = {"output.weight", "output_norm.bias", "output_norm.weight", "token_embd.weight",
                                     "token_embd_norm.bias", "token_embd_norm.weight"};
    for (int il = 0; il < 3; ++il) {
        for (const char * t : {"attn_norm.bias", "attn_norm.weight", "attn_output.bias", "attn_output.weight",
                               "attn_qkv.bias", "attn_qkv.weight", "ffn_down.bias", "ffn_down.weight", "ffn_norm.bias",
                               "ffn_norm.weight", "ffn_up.bias", "ffn_up.weight"}) {
            want.push_back("blk." + std::to_string(il) + "." + t);
        }
    }
    if (got != want) {
        ++g_failures;
        std::fprintf(stderr, "quantize tensor order:\n  got  %s\n  want %s\n", show(got).c_str(), show(want).c_str());
    }
    // llama-quantize re-sets general.quantization_version and general.file_type, which moves them to the end.
    const std::vector<std::string> keys = keys_of(nq);
    CHECK(keys.size() >= 2 && keys[keys.size() - 2] == "general.quantization_version" &&
          keys.back() == "general.file_type");
    auto f = bloom::gguf_file::open(nq, true);
    CHECK_EQ(+*f->get_uint("general.file_type", 100), uint64_t(15));  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    CHECK_EQ(+*f->get_uint("bloom.context_length", 1u << 20), uint64_t(512));
    const std::vector<float> ref = logits_of(g_narrow);
    const double d = max_abs_diff(ref, logits_of(nq));
    std::printf("narrow (n_embd 64, fallback types) q4_k_m vs bf16 checkpoint: max |diff| %.4f of the range\n",
                d / range_of(ref));
    CHECK(d / range_of(ref) <= 0.15);
}

// GGUF -> GGUF: requantizing an f32 GGUF gives the bytes quantizing the checkpoint gives; a tensor already in its
// type is copied; dequantizing to f32 is exact.
void test_requantize() {
    const std::string from_f32 = g_dir + "/wide-f32-to-q4_k_m.gguf";
    convert_ok(g_dir + "/wide-f32.gguf", from_f32, BLOOM_FTYPE_Q4_K_M);
    {
        auto a = bloom::gguf_file::open(from_f32, true);
        auto b = bloom::gguf_file::open(g_dir + "/wide-q4_k_m.gguf", true);
        CHECK_EQ(a->tensors().size(), b->tensors().size());
        int differ = 0;
        for (size_t i = 0; i < a->tensors().size() && i < b->tensors().size(); ++i) {
            const auto & x = a->tensors()[i];
            const auto & y = b->tensors()[i];
            differ += x.name != y.name || x.type != y.type || x.n_bytes != y.n_bytes ||
                      std::memcmp(x.data, y.data, x.n_bytes) != 0;
        }
        CHECK_EQ(differ, 0);
        // The source's keys are kept (general.name from the first conversion), the file type is the new one.
        CHECK_EQ(a->get_string("general.name"), std::string("Wide"));
        CHECK_EQ(+*a->get_uint("general.file_type", 100), uint64_t(15));
    }
    // q8_0 -> q8_0: matrices copied byte for byte.
    const std::string q8 = g_dir + "/wide-q8_0.gguf", q8b = g_dir + "/wide-q8_0-again.gguf";
    convert_ok(q8, q8b, BLOOM_FTYPE_Q8_0);
    {
        auto a = bloom::gguf_file::open(q8, true);
        auto b = bloom::gguf_file::open(q8b, true);
        int differ = 0;
        for (const auto & x : a->tensors()) {
            const bloom::gguf_tensor * y = b->find_tensor(x.name);
            differ += !y || y->type != x.type || y->n_bytes != x.n_bytes || std::memcmp(x.data, y->data, x.n_bytes) != 0;
        }
        CHECK_EQ(differ, 0);
    }
    // q4_0 -> f32: each value is the block's dequantized value, exactly.
    const std::string q4 = g_dir + "/wide-q4_0.gguf", back = g_dir + "/wide-q4_0-to-f32.gguf";
    convert_ok(q4, back, BLOOM_FTYPE_F32);
    {
        auto a = bloom::gguf_file::open(q4, true);
        auto b = bloom::gguf_file::open(back, true);
        const bloom::gguf_tensor * x = a->find_tensor("blk.1.ffn_up.weight");
        const bloom::gguf_tensor * y = b->find_tensor("blk.1.ffn_up.weight");
        CHECK(x && y && x->type == GGML_TYPE_Q4_0 && y->type == GGML_TYPE_F32);
        if (x && y) {
            std::vector<float> want(size_t(x->ne[0] * x->ne[1]));
            bloom::tensor_to_f32(x->type, x->data, want.data(), int64_t(want.size()));
            CHECK(y->n_bytes == want.size() * 4 && std::memcmp(y->data, want.data(), y->n_bytes) == 0);
        }
        // ... and the f32 file computes what the q4_0 file's weights mean (activations are not requantized, so
        // only close, not equal).
        const double d = max_abs_diff(logits_of(q4), logits_of(back));
        std::printf("wide q4_0 vs its dequantized f32 copy: max |diff| %.5f\n", d);
    }
}

// The tokenizer: tokenizer.json -> GGUF metadata -> tokenizer, on every golden case, in memory and through a file.
void test_tokenizer_round_trip() {
    const std::string dir = BLOOM_TEST_DATA_DIR;
    auto hf = bloom::vocab::load_hf(dir + "/bloom-tiny-tokenizer.json");
    auto mem = bloom::vocab::from_gguf(hf->to_gguf(1024), "memory");
    bloom::model * via_file = nullptr;
    std::unique_ptr<bloom::model> file_model;
    try {
        bloom_model_params mp = bloom_model_default_params();
        file_model = bloom::model::load(g_dir + "/wide-f32.gguf", mp);
        via_file = file_model.get();
    } catch (const bloom::error & e) {
        ++g_failures;
        std::fprintf(stderr, "tokenizer round trip: %s\n", e.what());
        return;
    }
    const bloom::vocab * vs[] = {mem.get(), via_file->tokenizer.get()};
    for (const bloom::vocab * v : vs) {
        CHECK_EQ(v->n_tokens(), hf->n_tokens());
        CHECK_EQ(v->bos(), hf->bos());
        CHECK_EQ(v->eos(), hf->eos());
        CHECK_EQ(v->pad(), hf->pad());
        CHECK_EQ(v->unk(), hf->unk());
        int bad_ids = 0;
        for (int32_t id = -1; id <= 1024; ++id) {
            bad_ids += v->token_to_string(id) != hf->token_to_string(id) || v->is_special(id) != hf->is_special(id) ||
                       v->token_to_piece(id) != hf->token_to_piece(id);
        }
        CHECK_EQ(bad_ids, 0);
    }
    const json golden = json::parse(read_file(dir + "/tokenizer-golden.json"));
    size_t n = 0;
    for (const json & c : golden.at("cases")) {
        const std::string text = c.at("text");
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto ids_raw = c.at("ids_raw").get<std::vector<int32_t>>();
        for (const bloom::vocab * v : vs) {
            ++n;
            const bool ok = v->tokenize(text, true) == ids && v->tokenize(text, false) == ids_raw &&
                            v->decode(ids.data(), ids.size(), false) == c.at("decoded").get<std::string>() &&
                            v->decode(ids.data(), ids.size(), true) == c.at("decoded_skip_special").get<std::string>();
            if (!ok) {
                ++g_failures;
                std::fprintf(stderr, "tokenizer round trip: golden case %s differs\n", c.at("name").get<std::string>().c_str());
            }
        }
    }
    std::printf("tokenizer round trip: %zu golden cases checked\n", n);
    CHECK(n >= 120);

    // What GGUF cannot express is refused rather than written differently.
    json j = json::parse(read_file(dir + "/bloom-tiny-tokenizer.json"));
    j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true;
    write_file(g_dir + "/prefix-space.json", j.dump());
    expect_error("tokenizer with a prefix space", BLOOM_ERR_UNSUPPORTED, "prefix space", [] {
        bloom::vocab::load_hf(g_dir + "/prefix-space.json")->to_gguf(1000);
    });
    // Inconsistent GGUF tokenizer data.
    bloom::vocab::gguf_data g = hf->to_gguf(1000);
    g.merges.push_back("Ġqu nope");
    expect_error("merge of an unknown token", BLOOM_ERR_FORMAT, "tokenizer.ggml.merges[740] uses \"nope\"", [&] {
        bloom::vocab::from_gguf(g, "x.gguf");
    });
    g = hf->to_gguf(1000);
    g.tokens[500] = g.tokens[400];
    expect_error("token listed twice", BLOOM_ERR_FORMAT, "twice", [&] { bloom::vocab::from_gguf(g, "x.gguf"); });
    g = hf->to_gguf(1000);
    g.eos = 5000;
    expect_error("eos out of range", BLOOM_ERR_FORMAT, "eos_token_id is 5000", [&] { bloom::vocab::from_gguf(g, "x.gguf"); });
    // Without special ids in the file, "<s>" and the like are found by their text, as in tokenizer.json.
    g = hf->to_gguf(1000);
    g.bos = g.eos = g.unk = g.pad = -1;
    auto no_ids = bloom::vocab::from_gguf(g, "x.gguf");
    CHECK(no_ids->bos() == 1 && no_ids->eos() == 2 && no_ids->unk() == 0 && no_ids->pad() == 3);
    g = hf->to_gguf(1000);
    g.eos = 7;
    CHECK_EQ(bloom::vocab::from_gguf(g, "x.gguf")->eos(), 7);  // the file's id wins
    g = hf->to_gguf(1000);
    g.types[7] = 9;
    expect_error("bad token type", BLOOM_ERR_FORMAT, "token_type[7] is 9", [&] { bloom::vocab::from_gguf(g, "x.gguf"); });
}

// Matrices are used in place: loading a GGUF adds almost no anonymous memory, unless mmap is off.
long rss_anon_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
    }
    return -1;
}

void test_memory() {
    const std::string path = g_dir + "/wide-f32.gguf";
    const long file_kib = long(read_file(path).size() / 1024);
    for (bool mmap : {true, false}) {
        const long before = rss_anon_kib();
        bloom_model * m = load(path, mmap);
        const long loaded = rss_anon_kib();
        std::vector<float> l = logits_of(m);  // touches every weight; a context's buffers come on top
        const long ran = rss_anon_kib();
        bloom_model_free(m);
        std::printf("wide-f32.gguf, use_mmap=%d: anonymous memory +%ld KiB after load, +%ld KiB after a run with a "
                    "context (file %ld KiB)\n", int(mmap), loaded - before, ran - before, file_kib);
        if (before < 0) continue;  // no /proc: nothing to check
        if (mmap) {
            CHECK(loaded - before < file_kib / 10);  // a copy of the matrices would be the whole file
            CHECK(ran - before < file_kib / 4);
        } else {
            CHECK(loaded - before > file_kib * 9 / 10);  // the check can see a copy
        }
    }
}

// A checkpoint whose safetensors data section starts at an odd offset (the format allows a header of any length):
// ggml reads weights with typed loads, so the matrices cannot be used in place from the mapping; they are copied to
// aligned memory (the anonymous memory shows the copy) and the logits are the aligned file's, bit for bit.
void test_misaligned_safetensors() {
    for (const std::string & src : {g_wide, g_narrow}) {
        const std::string dst = src + "-misaligned";
        ::mkdir(dst.c_str(), 0755);
        for (const char * f : {"/config.json", "/tokenizer.json"}) write_file(dst + f, read_file(src + f));
        const std::string st = read_file(src + "/model.safetensors");
        uint64_t n = 0;
        for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(st[size_t(i)])) << (8 * i);
        CHECK_EQ((8 + n) % 8, uint64_t(0));
        std::string out(8, '\0');
        for (int i = 0; i < 8; ++i) out[size_t(i)] = char(((n + 1) >> (8 * i)) & 0xff);
        write_file(dst + "/model.safetensors", out + st.substr(8, n) + " " + st.substr(8 + n));  // one more space

        const std::vector<float> ref = logits_of(src);
        const long file_kib = long(st.size() / 1024);
        for (bool mmap : {true, false}) {
            const long before = rss_anon_kib();
            bloom_model * m = load(dst, mmap);
            const long loaded = rss_anon_kib();
            const std::vector<float> l = logits_of(m);
            bloom_model_free(m);
            CHECK(!l.empty() && l == ref);
            std::printf("%s, use_mmap=%d: anonymous memory +%ld KiB after load (file %ld KiB)\n", dst.c_str(),
                        int(mmap), loaded - before, file_kib);
            if (mmap && src == g_wide && before >= 0) {
                CHECK(loaded - before > file_kib * 9 / 10);  // the matrices were copied, not used in place
            }
        }
    }
}

// A valid narrow f32 GGUF, damaged in the ways the issue lists.
void test_hostile() {
    const std::string good = g_dir + "/narrow-f32.gguf";
    convert_ok(g_narrow, good, BLOOM_FTYPE_F32);
    const std::string bytes = read_file(good);
    bloom_model_params mp = bloom_model_default_params();
    auto load_cpp = [&](const std::string & p) { return [p, mp] { bloom::model::load(p, mp); }; };
    auto damaged = [&](const char * name, const std::string & b) {
        const std::string p = g_dir + "/" + name;
        write_file(p, b);
        return p;
    };
    // Offsets of one tensor info (name, n_dims, ne[], type, offset) in the header.
    auto info_at = [&](const std::string & tname) {
        const std::string key = std::string(8, '\0');
        size_t pos = bytes.find(tname + std::string(1, '\x02'));  // the name, then n_dims (u32) = 2 of a matrix
        if (pos == std::string::npos) pos = bytes.find(tname + std::string(1, '\x01'));
        return pos + tname.size();  // at n_dims
    };
    auto put64 = [](std::string & b, size_t at, uint64_t v) { std::memcpy(&b[at], &v, 8); };

    expect_error("truncated in the metadata", BLOOM_ERR_FORMAT, "truncated or corrupt", load_cpp(damaged("t1.gguf", bytes.substr(0, 3000))));
    expect_error("truncated in the data", BLOOM_ERR_FORMAT, "is truncated: tensor", load_cpp(damaged("t2.gguf", bytes.substr(0, bytes.size() - 1000))));
    expect_error("not GGUF", BLOOM_ERR_FORMAT, "not a GGUF file", load_cpp(damaged("t3.gguf", "GGML" + bytes.substr(4))));
    // A file without the magic that does not claim to be GGUF by its name is not a model at all.
    expect_error("some other file", BLOOM_ERR_IO, "is not a directory nor a GGUF file",
                 load_cpp(damaged("model.safetensors", "GGML" + bytes.substr(4))));
    {
        std::string b = bytes;
        put64(b, 8, uint64_t(1) << 60);  // tensor count
        expect_error("absurd tensor count", BLOOM_ERR_FORMAT, "number of tensors", load_cpp(damaged("t4.gguf", b)));
        b = bytes;
        put64(b, 16, uint64_t(1) << 62);  // key/value count
        expect_error("absurd key count", BLOOM_ERR_FORMAT, "truncated or corrupt", load_cpp(damaged("t5.gguf", b)));
    }
    {
        // ffn_down.weight of the last block: n_dims u32, ne0 i64, ne1 i64, type i32, offset u64.
        const size_t at = info_at("blk.2.ffn_down.weight");
        std::string b = bytes;
        // 2^58 + 1 rows of 64: more elements than int64 holds.
        put64(b, at + 4, (uint64_t(1) << 58) + 1);
        expect_error("absurd dimension", BLOOM_ERR_FORMAT, "blk.2.ffn_down.weight", load_cpp(damaged("t6.gguf", b)));
        b = bytes;
        put64(b, at + 4 + 16 + 4, uint64_t(1) << 40);
        expect_error("tensor offset past the end", BLOOM_ERR_FORMAT, "blk.2.ffn_down.weight' has offset", load_cpp(damaged("t7.gguf", b)));
        b = bytes;
        const int32_t iq = GGML_TYPE_COUNT + 5;
        std::memcpy(&b[at + 4 + 16], &iq, 4);
        expect_error("invalid type number", BLOOM_ERR_FORMAT, "invalid ggml type", load_cpp(damaged("t8.gguf", b)));
    }
    auto edited = [&](const char * name, const std::function<void(gguf_context *)> & edit) {
        const std::string p = g_dir + "/" + name;
        rewrite(good, p, edit);
        return p;
    };
    expect_error("wrong architecture", BLOOM_ERR_UNSUPPORTED, "\"llama\"", load_cpp(edited("e1.gguf", [](gguf_context * c) {
        gguf_set_val_str(c, "general.architecture", "llama"); })));
    expect_error("missing key", BLOOM_ERR_FORMAT, "lacks the key bloom.block_count", load_cpp(edited("e2.gguf", [](gguf_context * c) {
        gguf_remove_key(c, "bloom.block_count"); })));
    expect_error("key of the wrong type", BLOOM_ERR_FORMAT, "bloom.embedding_length is a str, not an integer", load_cpp(edited("e3.gguf", [](gguf_context * c) {
        gguf_set_val_str(c, "bloom.embedding_length", "64"); })));
    expect_error("absurd block count", BLOOM_ERR_FORMAT, "block_count 1000000 needs", load_cpp(edited("e4.gguf", [](gguf_context * c) {
        gguf_set_val_u32(c, "bloom.block_count", 1000000); })));
    expect_error("grouped KV heads", BLOOM_ERR_UNSUPPORTED, "head_count_kv is 2", load_cpp(edited("e5.gguf", [](gguf_context * c) {
        gguf_set_val_u32(c, "bloom.attention.head_count_kv", 2); })));
    expect_error("other pre-tokenizer", BLOOM_ERR_UNSUPPORTED, "tokenizer.ggml.pre is \"gpt-2\"", load_cpp(edited("e6.gguf", [](gguf_context * c) {
        gguf_set_val_str(c, "tokenizer.ggml.pre", "gpt-2"); })));
    expect_error("no tokenizer", BLOOM_ERR_FORMAT, "tokenizer.ggml.model", load_cpp(edited("e7.gguf", [](gguf_context * c) {
        gguf_remove_key(c, "tokenizer.ggml.model"); })));
    expect_error("wrong embedding size", BLOOM_ERR_FORMAT, "'token_embd.weight' has shape [64, 1000], expected [32, 1000]",
                 load_cpp(edited("e8.gguf", [](gguf_context * c) {
                     gguf_set_val_u32(c, "bloom.embedding_length", 32);
                     gguf_set_val_u32(c, "bloom.feed_forward_length", 128); })));
    expect_error("other MLP width", BLOOM_ERR_UNSUPPORTED, "feed_forward_length is 100", load_cpp(edited("e8b.gguf", [](gguf_context * c) {
        gguf_set_val_u32(c, "bloom.feed_forward_length", 100); })));
    expect_error("vocabulary and embedding disagree", BLOOM_ERR_FORMAT, "tokenizer.ggml.tokens has 1001 entries",
                 load_cpp(edited("e9.gguf", [](gguf_context * c) {
                     auto f = bloom::gguf_file::open(g_dir + "/narrow-f32.gguf", true);
                     std::vector<std::string> t = f->get_string_array("tokenizer.ggml.tokens");
                     t.push_back("extra");
                     std::vector<const char *> p;
                     for (const auto & s : t) p.push_back(s.c_str());
                     gguf_set_arr_str(c, "tokenizer.ggml.tokens", p.data(), p.size());
                     std::vector<int32_t> ty(t.size(), 1);
                     gguf_set_arr_data(c, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, ty.data(), ty.size());
                 })));
    {
        const std::string p = g_dir + "/e10.gguf";
        rewrite(good, p, nullptr, [](const std::string & n, ggml_type t) {
            return n == "blk.1.ffn_up.weight" ? GGML_TYPE_IQ4_NL : t; });
        expect_error("unsupported tensor type", BLOOM_ERR_UNSUPPORTED, "'blk.1.ffn_up.weight' has type iq4_nl", load_cpp(p));
        const std::string p2 = g_dir + "/e11.gguf";
        rewrite(good, p2, nullptr, nullptr, true);
        expect_error("extra tensor", BLOOM_ERR_FORMAT, "'blk.0.attn_q.weight' that BLOOM does not have", load_cpp(p2));
    }
    // Through the C API: the status and the message.
    const std::string p = g_dir + "/t7.gguf";
    bloom_model * m = nullptr;
    CHECK_EQ(bloom_model_load(&m, p.c_str(), p.size(), nullptr), int32_t(BLOOM_ERR_FORMAT));
    CHECK(m == nullptr);
    CHECK(std::strstr(bloom_last_error(), "t7.gguf") != nullptr);
    // The damaged files are still refused by bloom_convert, which leaves nothing behind.
    const std::string out = g_dir + "/never.gguf";
    bloom_convert_params cp = bloom_convert_default_params();
    CHECK_EQ(bloom_convert(p.c_str(), p.size(), out.c_str(), out.size(), &cp), int32_t(BLOOM_ERR_FORMAT));
    CHECK(!exists(out) && !exists(out + ".tmp"));
}

struct progress_log {
    std::vector<float> seen;
    size_t stop_after = SIZE_MAX;
};

bool on_progress(float p, void * ud) {
    auto * log = static_cast<progress_log *>(ud);
    log->seen.push_back(p);
    return log->seen.size() < log->stop_after;
}

void test_convert_api() {
    const std::string out = g_dir + "/api.gguf";
    bloom_convert_params p = bloom_convert_default_params();
    CHECK_EQ(p.ftype, int32_t(BLOOM_FTYPE_F16));
    CHECK_EQ(p.n_threads, 0);

    // Progress once per tensor, increasing, ending at 1.
    progress_log log;
    p.progress_callback = on_progress;
    p.progress_user_data = &log;
    CHECK_EQ(bloom_convert(g_narrow.c_str(), g_narrow.size(), out.c_str(), out.size(), &p), int32_t(BLOOM_OK));
    CHECK_EQ(log.seen.size(), g_narrow_names.size());
    CHECK(std::is_sorted(log.seen.begin(), log.seen.end()) && !log.seen.empty() && log.seen.back() == 1.0f);

    // Cancelled after three tensors: an error, and neither the file nor its temporary remains.
    const std::string cancelled = g_dir + "/cancelled.gguf";
    progress_log stop;
    stop.stop_after = 3;
    p.progress_user_data = &stop;
    CHECK_EQ(bloom_convert(g_narrow.c_str(), g_narrow.size(), cancelled.c_str(), cancelled.size(), &p),
             int32_t(BLOOM_ERR_CANCELLED));
    CHECK(std::string(bloom_last_error()).find("cancelled") != std::string::npos);
    CHECK(!exists(cancelled) && !exists(cancelled + ".tmp"));
    CHECK_EQ(stop.seen.size(), size_t(3));
    p.progress_callback = nullptr;

    auto status = [&](const std::string & in, const std::string & o, bloom_convert_params q) {
        return bloom_convert(in.c_str(), in.size(), o.c_str(), o.size(), &q);
    };
    auto last_has = [](const char * s) { return std::strstr(bloom_last_error(), s) != nullptr; };
    bloom_convert_params bad = p;
    bad.ftype = 99;
    CHECK_EQ(status(g_narrow, out, bad), int32_t(BLOOM_ERR_INVALID_ARGUMENT));
    CHECK(last_has("unknown file type 99") && last_has("q4_k_m"));
    bad = p;
    bad.n_threads = -2;
    CHECK_EQ(status(g_narrow, out, bad), int32_t(BLOOM_ERR_INVALID_ARGUMENT));
    CHECK_EQ(status(g_narrow, "/nonexistent-dir/x.gguf", p), int32_t(BLOOM_ERR_IO));
    CHECK(last_has("cannot create /nonexistent-dir/x.gguf.tmp"));
    CHECK_EQ(status(g_dir + "/no-such-model", out, p), int32_t(BLOOM_ERR_IO));
    CHECK(last_has("no-such-model"));
    CHECK_EQ(status(g_narrow, "", p), int32_t(BLOOM_ERR_INVALID_ARGUMENT));
    CHECK_EQ(bloom_convert(nullptr, 0, out.c_str(), out.size(), &p), int32_t(BLOOM_ERR_INVALID_ARGUMENT));

    // A checkpoint GGUF cannot express.
    const std::string post_ln = g_dir + "/post-ln";
    write_checkpoint(post_ln, {64, 4, 1, 1000, false, false, false}, 7);
    json cfg = json::parse(read_file(post_ln + "/config.json"));
    cfg["apply_residual_connection_post_layernorm"] = true;
    write_file(post_ln + "/config.json", cfg.dump());
    CHECK_EQ(status(post_ln, out, p), int32_t(BLOOM_ERR_UNSUPPORTED));
    CHECK(last_has("apply_residual_connection_post_layernorm"));
}

// Context and load parameters: defaults resolved as documented, bad values refused with a message naming them
// (and, for a context, nothing left allocated: the constructor frees what it made before it failed).
void test_context_and_device_params() {
    bloom_model * m = load(g_wide);
    if (!m) return;
    bloom_context_params cp = bloom_context_default_params();
    CHECK_EQ(cp.type_kv, int32_t(BLOOM_KV_AUTO));
    CHECK_EQ(cp.flash_attn, int32_t(BLOOM_FLASH_ATTN_AUTO));
    cp.n_ctx = 64;
    cp.n_threads = 1;
    bloom_context * ctx = nullptr;
    CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_OK);
    bloom_context_params got = resolved_params(ctx);
    CHECK_EQ(got.type_kv, int32_t(BLOOM_KV_F32));  // f32 weights
    CHECK_EQ(got.flash_attn, int32_t(BLOOM_FLASH_ATTN_ON));
    bloom_context_free(ctx);
    cp.n_ctx = 4096;
    CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_OK);
    CHECK_EQ(resolved_params(ctx).flash_attn, int32_t(BLOOM_FLASH_ATTN_OFF));
    bloom_context_free(ctx);
    for (int i = 0; i < 50; ++i) {  // repeated failures after the backends exist: under ASan, a leak shows here
        cp = bloom_context_default_params();
        cp.type_kv = 7;
        ctx = nullptr;
        CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_ERR_INVALID_ARGUMENT);
        CHECK(ctx == nullptr);
        CHECK(std::strstr(bloom_last_error(), "type_kv 7") != nullptr);
        cp.type_kv = BLOOM_KV_AUTO;
        cp.flash_attn = 9;
        CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_ERR_INVALID_ARGUMENT);
        CHECK(std::strstr(bloom_last_error(), "flash_attn 9") != nullptr);
    }
    bloom_model_free(m);

    bloom_model_params mp = bloom_model_default_params();
    CHECK_EQ(mp.n_gpu_layers, -1);
    mp.n_gpu_layers = -2;
    bloom_model * bad = nullptr;
    CHECK_EQ(bloom_model_load(&bad, g_wide.c_str(), g_wide.size(), &mp), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "n_gpu_layers") != nullptr);
    mp = bloom_model_default_params();
    mp.split_mode = 5;
    CHECK_EQ(bloom_model_load(&bad, g_wide.c_str(), g_wide.size(), &mp), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "split_mode") != nullptr);

    const int32_t n = bloom_device_count();
    CHECK(n >= 1);
    bloom_device_info info;
    CHECK_EQ(bloom_device_get_info(&info, n - 1), BLOOM_OK);
    CHECK_EQ(info.type, int32_t(BLOOM_DEVICE_CPU));
    CHECK_EQ(bloom_device_get_info(&info, n), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK_EQ(bloom_device_get_info(&info, -1), BLOOM_ERR_INVALID_ARGUMENT);
}

// A decode graph is built once and reused while its shape stays (token after token, 256 cached positions at a
// time); a reused graph computes what a fresh one does, also after a truncate.
void test_graph_reuse() {
    bloom_model_params mp = bloom_model_default_params();
    std::unique_ptr<bloom::model> m = bloom::model::load(g_wide, mp);
    const int32_t n_vocab = m->hp.n_vocab;
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx = 1024;
    cp.n_threads = 2;
    std::mt19937 rng(5);
    std::vector<int32_t> ids(300);
    for (int32_t & id : ids) id = int32_t(rng() % uint32_t(n_vocab));
    const size_t n_prompt = 12;

    bloom::context c(*m, cp);
    CHECK_EQ(c.params().flash_attn, int32_t(BLOOM_FLASH_ATTN_ON));
    c.decode(ids.data(), n_prompt, false);
    CHECK_EQ(c.n_graph_builds(), size_t(1));
    std::vector<float> at_prompt_plus_one;
    for (size_t i = n_prompt; i < ids.size(); ++i) {
        c.decode(&ids[i], 1, false);
        if (i == n_prompt) at_prompt_plus_one.assign(c.last_logits(), c.last_logits() + n_vocab);
    }
    // The prompt's graph, one decode graph for n_kv 256 (positions up to 256), one for n_kv 512.
    CHECK_EQ(c.n_graph_builds(), size_t(3));
    const std::vector<float> last(c.last_logits(), c.last_logits() + n_vocab);

    // The same tokens in one prefill, in a fresh context: the same logits up to the order of sums.
    bloom::context fresh(*m, cp);
    fresh.decode(ids.data(), ids.size(), false);
    const std::vector<float> prefilled(fresh.last_logits(), fresh.last_logits() + n_vocab);
    const double d = max_abs_diff(last, prefilled) / range_of(prefilled);
    std::printf("graph reuse: 288 single-token decodes vs one prefill: %.2e of the logit range\n", d);
    CHECK(d <= 1e-5);

    // After a truncate the graph of position n_prompt is built again and gives the same bits as the first time.
    c.truncate(uint32_t(n_prompt));
    c.decode(&ids[n_prompt], 1, false);
    CHECK_EQ(c.n_graph_builds(), size_t(4));
    CHECK(std::memcmp(c.last_logits(), at_prompt_plus_one.data(), size_t(n_vocab) * sizeof(float)) == 0);

    // Without flash attention: single tokens write their V column through element indices and reuse the graph
    // too; a batch of several tokens writes V through a view at n_past, so each such batch builds its own.
    cp.flash_attn = BLOOM_FLASH_ATTN_OFF;
    bloom::context nofa(*m, cp);
    nofa.decode(ids.data(), n_prompt, false);
    for (size_t i = n_prompt; i < ids.size(); ++i) nofa.decode(&ids[i], 1, false);
    CHECK_EQ(nofa.n_graph_builds(), size_t(3));
    const double dn = max_abs_diff(std::vector<float>(nofa.last_logits(), nofa.last_logits() + n_vocab), last) /
                      range_of(last);
    std::printf("graph reuse without flash attention: %.2e of the logit range from the flash-attention run\n", dn);
    CHECK(dn <= 1e-5);
    nofa.truncate(uint32_t(n_prompt));
    nofa.decode(&ids[n_prompt], 2, false);
    nofa.decode(&ids[n_prompt + 2], 2, false);
    CHECK_EQ(nofa.n_graph_builds(), size_t(5));  // n_past 12 and 14: two graphs of the same shape
    bloom::context nofa_fresh(*m, cp);
    nofa_fresh.decode(ids.data(), n_prompt + 4, false);
    const double db = max_abs_diff(std::vector<float>(nofa.last_logits(), nofa.last_logits() + n_vocab),
                                   std::vector<float>(nofa_fresh.last_logits(), nofa_fresh.last_logits() + n_vocab));
    CHECK(db / range_of(last) <= 1e-5);
}

} // namespace

int main() {
    // A fixed threshold (glibc otherwise raises it after large frees) keeps large buffers in fresh mappings, so that
    // the anonymous-memory check in test_memory sees a copy when there is one.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    char tmpl[] = "/tmp/bloom-test-gguf-XXXXXX";
    g_dir = mkdtemp(tmpl);
    g_wide = g_dir + "/wide";
    g_narrow = g_dir + "/narrow";
    write_checkpoint(g_wide, {256, 4, 2, 1024, false, false, false}, 1);
    g_narrow_names = write_checkpoint(g_narrow, {64, 4, 3, 1000, true, true, true}, 2);
    {
        auto v = bloom::vocab::load_hf(std::string(BLOOM_TEST_DATA_DIR) + "/bloom-tiny-tokenizer.json");
        g_prompt = v->tokenize("The quick brown fox jumps over the lazy dog. <s>Zebras", true);
    }

    test_convert_exact();
    test_file_types();
    test_type_mixes();
    test_requantize();
    test_tokenizer_round_trip();
    test_memory();
    test_misaligned_safetensors();
    test_hostile();
    test_convert_api();
    test_context_and_device_params();
    test_graph_reuse();

    // BLOOM_GGUF_TEST_KEEP=1 keeps the checkpoints and GGUF files (to try them with llama.cpp's tools).
    if (g_failures == 0 && !std::getenv("BLOOM_GGUF_TEST_KEEP")) {
        std::string cmd = "rm -rf '" + g_dir + "'";
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_dir.c_str());
    } else {
        std::fprintf(stderr, "files kept in %s\n", g_dir.c_str());
    }
    return TEST_MAIN_RESULT();
}
