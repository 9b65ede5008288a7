#include "bloom-convert.h"

#include "bloom-error.h"
#include "bloom-json.h"
#include "bloom-log.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace bloom {

namespace {

constexpr int32_t k_n_ftypes = BLOOM_FTYPE_Q6_K + 1;

// A tensor's role, as llama-quant.cpp's tensor_get_category sees it.
enum class category { output, token_embd, attn_qkv, attn_output, ffn_up, ffn_down, other };

category category_of(const std::string & name) {
    if (name == "output.weight") return category::output;
    if (name == "token_embd.weight") return category::token_embd;
    if (name.find("attn_qkv.weight") != std::string::npos) return category::attn_qkv;
    if (name.find("attn_output.weight") != std::string::npos) return category::attn_output;
    if (name.find("ffn_up") != std::string::npos) return category::ffn_up;
    if (name.find("ffn_down") != std::string::npos) return category::ffn_down;
    return category::other;
}

bool ends_with(const std::string & s, const char * suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The type llama-quantize starts from for each file type (llama_ftype_get_default_type).
ggml_type default_type(int32_t ftype) {
    switch (ftype) {
        case BLOOM_FTYPE_F32:  return GGML_TYPE_F32;
        case BLOOM_FTYPE_F16:  return GGML_TYPE_F16;
        case BLOOM_FTYPE_BF16: return GGML_TYPE_BF16;
        case BLOOM_FTYPE_Q8_0: return GGML_TYPE_Q8_0;
        case BLOOM_FTYPE_Q4_0: return GGML_TYPE_Q4_0;
        case BLOOM_FTYPE_Q4_1: return GGML_TYPE_Q4_1;
        case BLOOM_FTYPE_Q5_0: return GGML_TYPE_Q5_0;
        case BLOOM_FTYPE_Q5_1: return GGML_TYPE_Q5_1;
        case BLOOM_FTYPE_Q2_K: return GGML_TYPE_Q2_K;
        case BLOOM_FTYPE_Q3_K_S: case BLOOM_FTYPE_Q3_K_M: case BLOOM_FTYPE_Q3_K_L: return GGML_TYPE_Q3_K;
        case BLOOM_FTYPE_Q4_K_S: case BLOOM_FTYPE_Q4_K_M: return GGML_TYPE_Q4_K;
        case BLOOM_FTYPE_Q5_K_S: case BLOOM_FTYPE_Q5_K_M: return GGML_TYPE_Q5_K;
        case BLOOM_FTYPE_Q6_K: return GGML_TYPE_Q6_K;
        default: return GGML_TYPE_COUNT;
    }
}

// llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third one between.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// llama-quant.cpp's per-tensor choice (llama_tensor_get_type_impl), the branches that can apply to BLOOM (one
// architecture, no experts, no grouped KV heads, no importance matrix) for the file types bloom_ftype has.
struct mix_state {
    int  n_attention_wv = 0, i_attention_wv = 0;
    int  n_layer = 0, i_ffn_down = 0;
    bool tied_embeddings = true;
};

ggml_type mix_type(mix_state & qs, ggml_type new_type, int64_t ne0, int32_t ftype, category cat) {
    // A tied embedding is also the output projection, so it gets the output's type.
    if (cat == category::output || (qs.tied_embeddings && cat == category::token_embd)) {
        if (ne0 % ggml_blck_size(new_type) != 0) {
            new_type = GGML_TYPE_Q8_0;
        } else if (new_type != GGML_TYPE_Q8_0) {
            new_type = GGML_TYPE_Q6_K;
        }
    } else if (cat == category::token_embd) {
        // unchanged for these file types
    } else if (cat == category::attn_qkv) {  // llama.cpp counts the fused qkv as an "attn_v" tensor
        switch (ftype) {
            case BLOOM_FTYPE_Q2_K:   new_type = GGML_TYPE_Q3_K; break;  // n_gqa() < 4
            case BLOOM_FTYPE_Q3_K_M: new_type = qs.i_attention_wv < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K; break;
            case BLOOM_FTYPE_Q3_K_L: new_type = GGML_TYPE_Q5_K; break;
            case BLOOM_FTYPE_Q4_K_M:
            case BLOOM_FTYPE_Q5_K_M:
                if (use_more_bits(qs.i_attention_wv, qs.n_attention_wv)) new_type = GGML_TYPE_Q6_K;
                break;
            case BLOOM_FTYPE_Q4_K_S:
                if (qs.i_attention_wv < 4) new_type = GGML_TYPE_Q5_K;
                break;
            default: break;
        }
        ++qs.i_attention_wv;
    } else if (cat == category::ffn_down) {
        const int i = qs.i_ffn_down, n = qs.n_layer;
        switch (ftype) {
            case BLOOM_FTYPE_Q2_K:   new_type = GGML_TYPE_Q3_K; break;
            case BLOOM_FTYPE_Q3_K_M: new_type = i < n / 16 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K; break;
            case BLOOM_FTYPE_Q3_K_L: new_type = GGML_TYPE_Q5_K; break;
            case BLOOM_FTYPE_Q4_K_M: if (use_more_bits(i, n)) new_type = GGML_TYPE_Q6_K; break;
            case BLOOM_FTYPE_Q5_K_M: if (use_more_bits(i, n)) new_type = GGML_TYPE_Q6_K; break;
            case BLOOM_FTYPE_Q4_K_S: if (i < n / 8) new_type = GGML_TYPE_Q5_K; break;
            default: break;
        }
        ++qs.i_ffn_down;
    } else if (cat == category::attn_output) {
        switch (ftype) {
            case BLOOM_FTYPE_Q2_K:   new_type = GGML_TYPE_Q3_K; break;
            case BLOOM_FTYPE_Q3_K_M: new_type = GGML_TYPE_Q4_K; break;
            case BLOOM_FTYPE_Q3_K_L: new_type = GGML_TYPE_Q5_K; break;
            default: break;
        }
    }
    return new_type;
}

// llama-quant.cpp's tensor_type_fallback: a row length that is not a multiple of the type's block size gets a type
// with smaller blocks, and F16 when even that does not fit.
ggml_type fallback_type(const std::string & name, ggml_type t, int64_t ne0, int & n_fallback) {
    if (ne0 % ggml_blck_size(t) == 0) return t;
    ggml_type r;
    switch (t) {
        case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: r = GGML_TYPE_Q4_0; break;
        case GGML_TYPE_Q4_K: r = GGML_TYPE_Q5_0; break;
        case GGML_TYPE_Q5_K: r = GGML_TYPE_Q5_1; break;
        case GGML_TYPE_Q6_K: r = GGML_TYPE_Q8_0; break;
        default:             r = t; break;  // a 32-block type: only F16 is left
    }
    if (ne0 % ggml_blck_size(r) != 0) r = GGML_TYPE_F16;
    ++n_fallback;
    BLOOM_LOG_INFO("%s: rows of %lld are not a multiple of %s's block of %lld: %s instead, as llama-quantize does",
                   name.c_str(), (long long) ne0, ggml_type_name(t), (long long) ggml_blck_size(t), ggml_type_name(r));
    return r;
}

// llama.cpp's model loader orders tensors by layer, then by name; llama-quantize writes them in that order.
bool quantize_order(const std::string & a, const std::string & b) {
    int la = -1, lb = -1;
    std::sscanf(a.c_str(), "blk.%d.", &la);
    std::sscanf(b.c_str(), "blk.%d.", &lb);
    return la != lb ? la < lb : a < b;
}

// convert_hf_to_gguf.py's --outtype path: one type for all matrices, f32 for vectors and norms, and f16 where its
// Q8_0 cannot split a row into blocks of 32.
ggml_type converter_type(const std::string & name, int n_dims, int64_t ne0, int32_t ftype) {
    if (n_dims <= 1 || ends_with(name, "_norm.weight") || !ends_with(name, ".weight")) return GGML_TYPE_F32;
    const ggml_type t = default_type(ftype);
    return t == GGML_TYPE_Q8_0 && ne0 % ggml_blck_size(t) != 0 ? GGML_TYPE_F16 : t;
}

bool is_converter_path(const model & m, int32_t ftype) {
    return !m.gguf && (ftype == BLOOM_FTYPE_F32 || ftype == BLOOM_FTYPE_F16 || ftype == BLOOM_FTYPE_BF16 ||
                       ftype == BLOOM_FTYPE_Q8_0);
}

} // namespace

int32_t llama_file_type(int32_t ftype) {
    static const int32_t values[k_n_ftypes] = {
        0 /* ALL_F32 */, 1 /* F16 */, 32 /* BF16 */, 7 /* Q8_0 */, 2 /* Q4_0 */, 3 /* Q4_1 */, 8 /* Q5_0 */,
        9 /* Q5_1 */, 10 /* Q2_K */, 11 /* Q3_K_S */, 12 /* Q3_K_M */, 13 /* Q3_K_L */, 14 /* Q4_K_S */,
        15 /* Q4_K_M */, 16 /* Q5_K_S */, 17 /* Q5_K_M */, 18 /* Q6_K */,
    };
    GGML_ASSERT(ftype >= 0 && ftype < k_n_ftypes);
    return values[ftype];
}

namespace {

void check_ftype(int32_t ftype) {
    if (ftype < 0 || ftype >= k_n_ftypes) {
        std::string valid;
        for (int32_t i = 0; i < k_n_ftypes; ++i) valid += format("%s%d (%s)", i ? ", " : "", i, bloom_ftype_name(i));
        fail(BLOOM_ERR_INVALID_ARGUMENT, "unknown file type %d; valid: %s", ftype, valid.c_str());
    }
}

} // namespace

std::vector<convert_entry> plan_conversion(const model & m, int32_t ftype) {
    check_ftype(ftype);
    std::vector<convert_entry> plan;
    for (const stored_tensor & s : m.stored) {
        convert_entry e;
        e.name = s.name;
        e.src = &s;
        for (int d = 0; d < ggml_n_dims(s.tensor); ++d) e.ne.push_back(s.tensor->ne[d]);
        e.type = GGML_TYPE_F32;
        e.qkv_reorder = m.qkv_interleaved && s.name.find(".attn_qkv.") != std::string::npos;
        plan.push_back(std::move(e));
    }

    if (is_converter_path(m, ftype)) {
        // The converter walks the checkpoint's files in name order and each file's tensors in name order.
        std::sort(plan.begin(), plan.end(), [](const convert_entry & a, const convert_entry & b) {
            return a.src->file_index != b.src->file_index ? a.src->file_index < b.src->file_index
                                                          : a.src->source_name < b.src->source_name;
        });
        for (convert_entry & e : plan) e.type = converter_type(e.name, int(e.ne.size()), e.ne[0], ftype);
        return plan;
    }

    std::sort(plan.begin(), plan.end(), [](const convert_entry & a, const convert_entry & b) {
        return quantize_order(a.name, b.name);
    });
    mix_state qs;
    qs.n_layer = m.hp.n_layer;
    for (const convert_entry & e : plan) {
        const category c = category_of(e.name);
        if (c == category::attn_qkv) ++qs.n_attention_wv;
        if (c == category::output) qs.tied_embeddings = false;
    }
    const ggml_type base = default_type(ftype);
    int n_fallback = 0;
    for (convert_entry & e : plan) {
        // llama-quantize leaves 1-D tensors, norms and anything not named *weight as they are: f32 here.
        if (e.ne.size() < 2 || !ends_with(e.name, "weight") || e.name.find("_norm.weight") != std::string::npos) {
            e.type = GGML_TYPE_F32;
            continue;
        }
        ggml_type t = base;
        if (ggml_is_quantized(base)) {
            t = mix_type(qs, t, e.ne[0], ftype, category_of(e.name));
            t = fallback_type(e.name, t, e.ne[0], n_fallback);
        }
        e.type = t;
    }
    if (n_fallback > 0) {
        BLOOM_LOG_WARN("%d of %zu tensors needed a fallback type (their rows are not a multiple of the block size of "
                       "%s's types)", n_fallback, plan.size(), bloom_ftype_name(ftype));
    }
    return plan;
}

namespace {

// Python's round-half-to-even and its formatting of convert_hf_to_gguf.py's size label ("560M", "1.7B", "1.8M").
std::string size_label(int64_t n) {
    double scaled;
    const char * suffix;
    if (n > 1e12)      { scaled = double(n) * 1e-12; suffix = "T"; }
    else if (n > 1e9)  { scaled = double(n) * 1e-9;  suffix = "B"; }
    else if (n > 1e6)  { scaled = double(n) * 1e-6;  suffix = "M"; }
    else               { scaled = double(n) * 1e-3;  suffix = "K"; }
    std::string digits = std::to_string((long long) std::nearbyint(scaled));
    digits.erase(0, digits.find_first_not_of('0') == std::string::npos ? digits.size() : digits.find_first_not_of('0'));
    const int fix = std::max(2 - int(digits.size()), 0);
    return format("%.*f%s", fix, scaled, suffix);
}

std::string base_name(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The converter's general.name when the checkpoint carries no model card: the directory's name in its id_to_title
// form ("bloom-560m" -> "Bloom 560m": dashes become spaces, lower-case words are title-cased unless they start with a
// digit or are a version like "v1.1"). Its other guesses from the name (basename, organization) are not made here.
std::string name_from_dir(const std::string & dir) {
    std::string s = base_name(dir);
    std::replace(s.begin(), s.end(), '-', ' ');
    std::string out, word;
    auto flush = [&] {
        if (word.empty()) return;
        bool has_lower = false, has_upper = false;
        for (char c : word) {
            has_lower |= std::islower(static_cast<unsigned char>(c)) != 0;
            has_upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
        }
        const bool digit_first = std::isdigit(static_cast<unsigned char>(word[0])) != 0;
        bool version = word.size() > 1 && word[0] == 'v';
        for (size_t i = 1; version && i < word.size(); ++i) {
            version = std::isdigit(static_cast<unsigned char>(word[i])) || (word[i] == '.' && i + 1 < word.size());
        }
        if (has_lower && !has_upper && !digit_first && !version) {
            bool prev_alpha = false;
            for (char & c : word) {
                const bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0;
                if (alpha && !prev_alpha) c = char(std::toupper(static_cast<unsigned char>(c)));
                prev_alpha = alpha;
            }
        }
        out += (out.empty() ? "" : " ") + word;
        word.clear();
    };
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) flush();
        else word += c;
    }
    flush();
    return out;
}

void set_tokenizer(gguf_context * ctx, const vocab::gguf_data & d) {
    gguf_set_val_str(ctx, "tokenizer.ggml.model", "gpt2");
    gguf_set_val_str(ctx, "tokenizer.ggml.pre", "bloom");
    std::vector<const char *> p;
    p.reserve(d.tokens.size());
    for (const std::string & t : d.tokens) p.push_back(t.c_str());
    gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", p.data(), p.size());
    gguf_set_arr_data(ctx, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, d.types.data(), d.types.size());
    p.clear();
    for (const std::string & mg : d.merges) p.push_back(mg.c_str());
    gguf_set_arr_str(ctx, "tokenizer.ggml.merges", p.data(), p.size());
    // The converter's order: bos, eos, unk, (sep), pad.
    if (d.bos >= 0) gguf_set_val_u32(ctx, "tokenizer.ggml.bos_token_id", uint32_t(d.bos));
    if (d.eos >= 0) gguf_set_val_u32(ctx, "tokenizer.ggml.eos_token_id", uint32_t(d.eos));
    if (d.unk >= 0) gguf_set_val_u32(ctx, "tokenizer.ggml.unknown_token_id", uint32_t(d.unk));
    if (d.pad >= 0) gguf_set_val_u32(ctx, "tokenizer.ggml.padding_token_id", uint32_t(d.pad));
}

// The keys convert_hf_to_gguf.py writes for a BLOOM checkpoint, in its order.
void set_converter_keys(gguf_context * ctx, const model & m, const std::string & dir, int32_t llama_ftype) {
    const hparams & hp = m.hp;
    gguf_set_val_str(ctx, "general.architecture", "bloom");
    gguf_set_val_str(ctx, "general.type", "model");
    gguf_set_val_str(ctx, "general.name", name_from_dir(dir).c_str());
    gguf_set_val_str(ctx, "general.size_label", size_label(m.n_params).c_str());
    // The converter's context length is config.json's seq_length, or (sic) the hidden size when there is none.
    int64_t n_ctx = hp.n_embd;
    const json cfg = read_json_file(dir + "/config.json");
    if (auto it = cfg.find("seq_length"); it != cfg.end() && it->is_number_integer() && it->get<int64_t>() > 0 &&
                                          it->get<int64_t>() <= INT32_MAX) {
        n_ctx = it->get<int64_t>();
    }
    gguf_set_val_u32(ctx, "bloom.context_length", uint32_t(n_ctx));
    gguf_set_val_u32(ctx, "bloom.embedding_length", uint32_t(hp.n_embd));
    gguf_set_val_u32(ctx, "bloom.feed_forward_length", uint32_t(4 * hp.n_embd));
    gguf_set_val_u32(ctx, "bloom.block_count", uint32_t(hp.n_layer));
    gguf_set_val_u32(ctx, "bloom.attention.head_count", uint32_t(hp.n_head));
    gguf_set_val_u32(ctx, "bloom.attention.head_count_kv", uint32_t(hp.n_head));
    gguf_set_val_f32(ctx, "bloom.attention.layer_norm_epsilon", hp.norm_eps);
    gguf_set_val_u32(ctx, "general.file_type", uint32_t(llama_ftype));
    gguf_set_val_u32(ctx, "general.quantization_version", GGML_QNT_VERSION);
    set_tokenizer(ctx, m.tokenizer->to_gguf(hp.n_vocab));
}

// Hugging Face's per-head rows [q_h, k_h, v_h] for h = 0..H-1 to [all q; all k; all v]: the source row of output row
// r (also the source element of a bias).
int64_t qkv_source_row(int64_t r, int64_t n_embd, int64_t head_dim) {
    const int64_t section = r / n_embd, rem = r % n_embd;
    const int64_t head = rem / head_dim, d = rem % head_dim;
    return head * 3 * head_dim + section * head_dim + d;
}

// Produces one tensor's bytes in its written type, slab by slab, on n_threads threads.
class tensor_writer {
public:
    tensor_writer(gguf_writer & w, const model & m, int n_threads) : w_(w), m_(m), n_threads_(n_threads) {}

    void write(const convert_entry & e) {
        const ggml_tensor * src = e.src->tensor;
        const int64_t ne0 = src->ne[0], n_rows = ggml_nrows(src);
        const uint8_t * base = static_cast<const uint8_t *>(src->data);
        const int64_t E = m_.hp.n_embd, D = m_.hp.head_dim();

        if (e.ne.size() == 1) {
            // Vectors are the model's f32 copies; a qkv bias is permuted like the rows of its weight.
            std::vector<float> v(static_cast<size_t>(ne0));
            std::memcpy(v.data(), base, v.size() * sizeof(float));
            if (e.qkv_reorder) {
                std::vector<float> p(v.size());
                for (int64_t i = 0; i < ne0; ++i) p[size_t(i)] = v[size_t(qkv_source_row(i, E, D))];
                v.swap(p);
            }
            write_rows(e, v.data(), 1, ne0);
            return;
        }

        const size_t src_row = ggml_row_size(src->type, ne0);
        auto source_row = [&](int64_t r) { return base + size_t(e.qkv_reorder ? qkv_source_row(r, E, D) : r) * src_row; };
        if (e.type == src->type) {
            // Same type: the stored bytes, rows reordered where needed; nothing is requantized.
            if (!e.qkv_reorder) {
                w_.write_data(base, ggml_nbytes(src));
            } else {
                for (int64_t r = 0; r < n_rows; ++r) w_.write_data(source_row(r), src_row);
            }
            return;
        }
        // Slabs bound the memory: about 64 MiB of f32 at a time, whatever the tensor's size.
        const int64_t slab = std::max<int64_t>(1, (int64_t(64) << 20) / int64_t(ne0 * sizeof(float)));
        for (int64_t r0 = 0; r0 < n_rows; r0 += slab) {
            const int64_t n = std::min(slab, n_rows - r0);
            f32_.resize(size_t(n * ne0));
            parallel_rows(n, [&](int64_t a, int64_t b) {
                for (int64_t r = a; r < b; ++r) {
                    tensor_to_f32(src->type, source_row(r0 + r), f32_.data() + r * ne0, ne0);
                }
            });
            write_rows(e, f32_.data(), n, ne0);
        }
    }

private:
    // Converts rows of f32 to the entry's type and appends them to the file.
    void write_rows(const convert_entry & e, const float * f32, int64_t n_rows, int64_t ne0) {
        if (e.type == GGML_TYPE_F32) {
            w_.write_data(f32, size_t(n_rows * ne0) * sizeof(float));
            return;
        }
        const size_t row_size = ggml_row_size(e.type, ne0);
        out_.resize(size_t(n_rows) * row_size);
        bool valid = true;
        std::mutex mutex;
        parallel_rows(n_rows, [&](int64_t a, int64_t b) {
            uint8_t * dst = out_.data() + size_t(a) * row_size;
            const size_t size = ggml_quantize_chunk(e.type, f32 + a * ne0, dst, 0, b - a, ne0, nullptr);
            // As llama-quantize: non-finite weights give invalid blocks, which no reader should get.
            if (ggml_is_quantized(e.type) && !ggml_validate_row_data(e.type, dst, size)) {
                std::lock_guard<std::mutex> lock(mutex);
                valid = false;
            }
        });
        if (!valid) {
            fail(BLOOM_ERR_FORMAT, "tensor '%s' (%s) holds values that do not quantize to %s (NaN or infinity?)",
                 e.name.c_str(), e.src->source_name.c_str(), ggml_type_name(e.type));
        }
        w_.write_data(out_.data(), out_.size());
    }

    // Runs f(first, last) over [0, n_rows) split into one contiguous range per thread.
    template <typename F>
    void parallel_rows(int64_t n_rows, F && f) {
        const int64_t n_threads = std::min<int64_t>(n_threads_, std::max<int64_t>(1, n_rows / 4));
        if (n_threads <= 1) {
            f(0, n_rows);
            return;
        }
        std::vector<std::thread> workers;
        for (int64_t t = 1; t < n_threads; ++t) {
            workers.emplace_back([&, t] { f(n_rows * t / n_threads, n_rows * (t + 1) / n_threads); });
        }
        f(0, n_rows / n_threads);
        for (std::thread & th : workers) th.join();
    }

    gguf_writer &        w_;
    const model &        m_;
    int                  n_threads_;
    std::vector<float>   f32_;
    std::vector<uint8_t> out_;
};

} // namespace

void convert(const std::string & in_path, const std::string & out_path, const bloom_convert_params & params) {
    check_ftype(params.ftype);
    if (params.n_threads < 0) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "n_threads must be >= 0 (0 = all cores), not %d", params.n_threads);
    }
    if (out_path.empty()) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "the output path is empty");
    }
    const int n_threads = params.n_threads > 0 ? params.n_threads
                                               : int(std::max(1u, std::thread::hardware_concurrency()));

    bloom_model_params mp = bloom_model_default_params();
    mp.repack = false;      // the writer reads the weights' stored bytes, in host memory
    mp.n_gpu_layers = 0;
    std::unique_ptr<model> m = model::load(in_path, mp);
    if (m->hp.residual_post_ln) {
        fail(BLOOM_ERR_UNSUPPORTED, "%s/config.json sets apply_residual_connection_post_layernorm, which GGUF cannot "
             "express (llama.cpp's BLOOM always adds the residual before the layer norm)", in_path.c_str());
    }
    const std::vector<convert_entry> plan = plan_conversion(*m, params.ftype);

    gguf_writer w(out_path);
    gguf_context * meta = w.meta();
    if (m->gguf) {
        // llama-quantize: every key of the source, then the quantization version and file type re-set (at the end).
        gguf_set_kv(meta, m->gguf->ctx());
        for (const char * k : {"general.alignment", "split.no", "split.count", "split.tensors.count"}) {
            gguf_remove_key(meta, k);
        }
        gguf_set_val_u32(meta, "general.quantization_version", GGML_QNT_VERSION);
        gguf_set_val_u32(meta, "general.file_type", uint32_t(llama_file_type(params.ftype)));
    } else if (is_converter_path(*m, params.ftype)) {
        set_converter_keys(meta, *m, in_path, llama_file_type(params.ftype));
    } else {
        // The converter's f32 file, then llama-quantize.
        set_converter_keys(meta, *m, in_path, llama_file_type(BLOOM_FTYPE_F32));
        gguf_set_val_u32(meta, "general.quantization_version", GGML_QNT_VERSION);
        gguf_set_val_u32(meta, "general.file_type", uint32_t(llama_file_type(params.ftype)));
    }
    for (const convert_entry & e : plan) {
        w.add_tensor(e.name, e.type, e.ne);
    }

    w.begin();
    tensor_writer tw(w, *m, n_threads);
    for (size_t i = 0; i < plan.size(); ++i) {
        tw.write(plan[i]);
        w.end_tensor();
        if (params.progress_callback &&
            !params.progress_callback(float(i + 1) / float(plan.size()), params.progress_user_data)) {
            fail(BLOOM_ERR_CANCELLED, "conversion was cancelled by the progress callback; %s was not written",
                 out_path.c_str());
        }
    }
    w.commit();
    BLOOM_LOG_INFO("wrote %s: %zu tensors, %s", out_path.c_str(), plan.size(), bloom_ftype_name(params.ftype));
}

} // namespace bloom
