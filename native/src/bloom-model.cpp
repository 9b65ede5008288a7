#include "bloom-model.h"

#include "bloom-error.h"
#include "bloom-log.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>

namespace bloom {

model::~model() {
    for (ggml_backend_buffer_t b : buffers) {
        ggml_backend_buffer_free(b);
    }
    if (ctx_mapped) {
        ggml_free(ctx_mapped);
    }
    if (ctx_owned) {
        ggml_free(ctx_owned);
    }
}

void tensor_to_f32(ggml_type type, const void * src, float * dst, int64_t n) {
    switch (type) {
        case GGML_TYPE_F32:  std::memcpy(dst, src, size_t(n) * sizeof(float)); break;
        case GGML_TYPE_F16:  ggml_fp16_to_fp32_row(static_cast<const ggml_fp16_t *>(src), dst, n); break;
        case GGML_TYPE_BF16: ggml_bf16_to_fp32_row(static_cast<const ggml_bf16_t *>(src), dst, n); break;
        default: {
            const ggml_type_traits * tt = ggml_get_type_traits(type);
            GGML_ASSERT(tt->to_float && n % tt->blck_size == 0);
            tt->to_float(src, dst, n);
        }
    }
}

namespace {

bool is_dir(const std::string & path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

ggml_type ggml_type_of(st_dtype d) {
    switch (d) {
        case st_dtype::f32:  return GGML_TYPE_F32;
        case st_dtype::f16:  return GGML_TYPE_F16;
        case st_dtype::bf16: return GGML_TYPE_BF16;
        default:             return GGML_TYPE_COUNT;
    }
}

bloom_dtype dtype_of(ggml_type t) {
    switch (t) {
        case GGML_TYPE_F16:  return BLOOM_DTYPE_F16;
        case GGML_TYPE_BF16: return BLOOM_DTYPE_BF16;
        case GGML_TYPE_Q8_0: return BLOOM_DTYPE_Q8_0;
        case GGML_TYPE_Q4_0: return BLOOM_DTYPE_Q4_0;
        case GGML_TYPE_Q4_1: return BLOOM_DTYPE_Q4_1;
        case GGML_TYPE_Q5_0: return BLOOM_DTYPE_Q5_0;
        case GGML_TYPE_Q5_1: return BLOOM_DTYPE_Q5_1;
        case GGML_TYPE_Q2_K: return BLOOM_DTYPE_Q2_K;
        case GGML_TYPE_Q3_K: return BLOOM_DTYPE_Q3_K;
        case GGML_TYPE_Q4_K: return BLOOM_DTYPE_Q4_K;
        case GGML_TYPE_Q5_K: return BLOOM_DTYPE_Q5_K;
        case GGML_TYPE_Q6_K: return BLOOM_DTYPE_Q6_K;
        default:             return BLOOM_DTYPE_F32;
    }
}

// The weight types llama-quantize produces for BLOOM (and the converter's float ones): what the graph runs.
bool is_supported_type(ggml_type t) {
    switch (t) {
        case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1:
        case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K:
            return true;
        default:
            return false;
    }
}

// Finds a weight in one file format by its GGUF and Hugging Face names, checking its shape (ggml order) and type.
class weight_finder {
public:
    virtual ~weight_finder() = default;
    // nullopt only when !required and the weight is absent.
    virtual std::optional<tensor_source> find(const std::string & gguf_name, const std::string & hf_name, int64_t ne0,
                                              int64_t ne1, bool is_matrix, bool required) = 0;
};

// Creates ggml tensors for tensor sources and binds them: matrices stay in their stored type and are used in place
// from the file mapping; vectors (norms, biases) are converted to f32, which ggml's element-wise ops want.
class binder {
public:
    binder(model & m, const bloom_model_params & params, size_t n_expected)
        : m_(m), params_(params), n_expected_(n_expected) {}

    // product_only: the graph uses the matrix only as the weight of matrix products (not the embedding table, which
    // ggml_get_rows reads), so it may be repacked for the CPU's interleaved kernels.
    ggml_tensor * matrix(const std::string & gguf_name, const tensor_source & src, bool product_only) {
        ggml_tensor * g = ggml_new_tensor_2d(m_.ctx_mapped, src.type, src.ne0, src.ne1);
        ggml_set_name(g, gguf_name.c_str());
        pending_.push_back({g, src});
        if (product_only) {
            product_only_.insert(g);
        }
        m_.stored.push_back({gguf_name, src.name, src.file_index, g});
        m_.n_params += src.ne0 * src.ne1;
        progress();
        return g;
    }

    ggml_tensor * vector(const std::string & gguf_name, const tensor_source & src) {
        ggml_tensor * g = ggml_new_tensor_1d(m_.ctx_owned, GGML_TYPE_F32, src.ne0);
        ggml_set_name(g, gguf_name.c_str());
        owned_.push_back({g, src});
        m_.stored.push_back({gguf_name, src.name, src.file_index, g});
        m_.n_params += src.ne0;
        return g;
    }

    // Allocates and fills every tensor declared so far.
    void bind() {
        // Repacked: matrices ggml's CPU backend has interleaved kernels for (Q4_0, Q4_K, IQ4_NL, ... as the CPU's
        // features allow) are copied into its repack buffer, as llama.cpp does by default; their file pages are
        // released once copied, so resident memory stays near the file's size. Everything else is used in place.
        std::vector<std::pair<ggml_tensor *, tensor_source>> in_place;
        std::vector<std::pair<ggml_tensor *, tensor_source>> repacked;
        ggml_backend_buffer_type_t repack_buft = params_.repack ? cpu_repack_buffer_type() : nullptr;
        for (const auto & entry : pending_) {
            const bool repack = repack_buft && product_only_.count(entry.first) && repackable(repack_buft, entry.first);
            (repack ? repacked : in_place).push_back(entry);
        }
        if (!repacked.empty()) {
            bind_repacked(repack_buft, repacked);
        }

        // In place: one CPU buffer over each file mapping.
        std::map<const mapped_file *, ggml_backend_buffer_t> file_buffers;
        for (const auto & [g, src] : in_place) {
            if (file_buffers.count(src.file)) continue;
            const mapped_file * f = src.file;
            ggml_backend_buffer_t b = ggml_backend_cpu_buffer_from_ptr(const_cast<uint8_t *>(f->data()), f->size());
            if (!b) {
                fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot wrap %s in a ggml buffer", f->path().c_str());
            }
            m_.buffers.push_back(b);
            file_buffers[f] = b;
        }
        for (const auto & [g, src] : in_place) {
            GGML_ASSERT(ggml_nbytes(g) == src.n_bytes);
            if (ggml_backend_tensor_alloc(file_buffers[src.file], g, const_cast<uint8_t *>(src.data)) != GGML_STATUS_SUCCESS) {
                fail(BLOOM_ERR_INTERNAL, "cannot bind tensor '%s' to its file mapping", src.name.c_str());
            }
        }
        // Converted: one owned buffer for all vectors.
        ggml_backend_buffer_t owned = ggml_backend_alloc_ctx_tensors_from_buft(m_.ctx_owned, ggml_backend_cpu_buffer_type());
        if (!owned) {
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the model's f32 vectors");
        }
        m_.buffers.push_back(owned);
        std::vector<float> tmp;
        for (const auto & [g, src] : owned_) {
            tmp.resize(size_t(src.ne0));
            tensor_to_f32(src.type, src.data, tmp.data(), src.ne0);
            ggml_backend_tensor_set(g, tmp.data(), 0, tmp.size() * sizeof(float));
            progress();
        }
    }

private:
    // ggml's CPU repack buffer type ("CPU_REPACK"), or nullptr when this build has none.
    static ggml_backend_buffer_type_t cpu_repack_buffer_type() {
        ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        if (!dev) {
            return nullptr;
        }
        auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
            ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
        for (ggml_backend_buffer_type_t * b = get_extra ? get_extra(dev) : nullptr; b && *b; ++b) {
            if (std::strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) {
                return *b;
            }
        }
        return nullptr;
    }

    // Whether the CPU backend would run a product with w, placed in the repack buffer type, on a repacked kernel:
    // asked through the backend itself, on a probe product whose weight sits in an empty buffer of that type.
    static bool repackable(ggml_backend_buffer_type_t buft, ggml_tensor * w) {
        ggml_init_params ip = { 3 * ggml_tensor_overhead(), nullptr, true };
        ggml_context * ctx = ggml_init(ip);
        ggml_backend_buffer_t probe = ggml_backend_buft_alloc_buffer(buft, 0);
        bool ok = false;
        if (ctx && probe) {
            ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, w->ne[0], 512);
            ggml_tensor * op = ggml_mul_mat(ctx, w, x);
            w->buffer = probe;
            ok = ggml_backend_dev_supports_op(ggml_backend_buft_get_device(buft), op);
            w->buffer = nullptr;
        }
        if (probe) ggml_backend_buffer_free(probe);
        if (ctx) ggml_free(ctx);
        return ok;
    }

    void bind_repacked(ggml_backend_buffer_type_t buft, const std::vector<std::pair<ggml_tensor *, tensor_source>> & ts) {
        const size_t align = ggml_backend_buft_get_alignment(buft);
        size_t total = 0;
        for (const auto & [g, src] : ts) {
            total += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, g), align);
        }
        ggml_backend_buffer_t buf = ggml_backend_buft_alloc_buffer(buft, total);
        if (!buf) {
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate %.1f MiB for repacked weights", total / 1048576.0);
        }
        ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        m_.buffers.push_back(buf);
        uint8_t * base = static_cast<uint8_t *>(ggml_backend_buffer_get_base(buf));
        size_t offset = 0;
        for (const auto & [g, src] : ts) {
            GGML_ASSERT(ggml_nbytes(g) == src.n_bytes);
            if (ggml_backend_tensor_alloc(buf, g, base + offset) != GGML_STATUS_SUCCESS) {
                fail(BLOOM_ERR_INTERNAL, "cannot place tensor '%s' in the repack buffer", src.name.c_str());
            }
            offset += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, g), align);
            ggml_backend_tensor_set(g, src.data, 0, src.n_bytes);
            src.file->release(src.data, src.n_bytes);
        }
        m_.n_repacked = int32_t(ts.size());
        BLOOM_LOG_INFO("model: %zu weight matrices repacked for the CPU's interleaved kernels (%.1f MiB)", ts.size(),
                       total / 1048576.0);
    }

    void progress() {
        ++n_done_;
        if (params_.progress_callback &&
            !params_.progress_callback(float(n_done_) / float(n_expected_), params_.progress_user_data)) {
            fail(BLOOM_ERR_CANCELLED, "loading was cancelled by the progress callback");
        }
    }

    model &                                            m_;
    const bloom_model_params &                         params_;
    size_t                                             n_expected_;
    size_t                                             n_done_ = 0;
    std::vector<std::pair<ggml_tensor *, tensor_source>> pending_;
    std::vector<std::pair<ggml_tensor *, tensor_source>> owned_;
    std::set<const ggml_tensor *>                        product_only_;
};

// The tensor table, the same for every format: which weights BLOOM has, their shapes, and what the graph calls them.
void fill_table(model & m, weight_finder & f, binder & b) {
    const hparams & hp = m.hp;
    const int64_t E = hp.n_embd, V = hp.n_vocab;
    auto mat = [&](const std::string & gn, const std::string & hn, int64_t ne0, int64_t ne1) {
        return b.matrix(gn, *f.find(gn, hn, ne0, ne1, true, true), true);
    };
    auto vec = [&](const std::string & gn, const std::string & hn, int64_t n) {
        return b.vector(gn, *f.find(gn, hn, n, 1, false, true));
    };
    m.tok_embd   = b.matrix("token_embd.weight", *f.find("token_embd.weight", "word_embeddings.weight", E, V, true, true),
                            false);  // read by ggml_get_rows, and the output projection when tied
    m.tok_norm   = vec("token_embd_norm.weight", "word_embeddings_layernorm.weight", E);
    m.tok_norm_b = vec("token_embd_norm.bias", "word_embeddings_layernorm.bias", E);
    m.layers.resize(size_t(hp.n_layer));
    for (int il = 0; il < hp.n_layer; ++il) {
        layer & l = m.layers[size_t(il)];
        const std::string g = "blk." + std::to_string(il) + ".";
        const std::string h = "h." + std::to_string(il) + ".";
        l.attn_norm   = vec(g + "attn_norm.weight",   h + "input_layernorm.weight", E);
        l.attn_norm_b = vec(g + "attn_norm.bias",     h + "input_layernorm.bias", E);
        l.wqkv        = mat(g + "attn_qkv.weight",    h + "self_attention.query_key_value.weight", E, 3 * E);
        l.bqkv        = vec(g + "attn_qkv.bias",      h + "self_attention.query_key_value.bias", 3 * E);
        l.wo          = mat(g + "attn_output.weight", h + "self_attention.dense.weight", E, E);
        l.bo          = vec(g + "attn_output.bias",   h + "self_attention.dense.bias", E);
        l.ffn_norm    = vec(g + "ffn_norm.weight",    h + "post_attention_layernorm.weight", E);
        l.ffn_norm_b  = vec(g + "ffn_norm.bias",      h + "post_attention_layernorm.bias", E);
        l.ffn_up      = mat(g + "ffn_up.weight",      h + "mlp.dense_h_to_4h.weight", E, 4 * E);
        l.ffn_up_b    = vec(g + "ffn_up.bias",        h + "mlp.dense_h_to_4h.bias", 4 * E);
        l.ffn_down    = mat(g + "ffn_down.weight",    h + "mlp.dense_4h_to_h.weight", 4 * E, E);
        l.ffn_down_b  = vec(g + "ffn_down.bias",      h + "mlp.dense_4h_to_h.bias", E);
    }
    m.output_norm   = vec("output_norm.weight", "ln_f.weight", E);
    m.output_norm_b = vec("output_norm.bias", "ln_f.bias", E);
    // The output projection is tied to the embedding unless the file carries its own.
    const std::optional<tensor_source> out = f.find("output.weight", "lm_head.weight", E, V, true, false);
    m.output = out ? b.matrix("output.weight", *out, true) : m.tok_embd;
    b.bind();

    m.weight_dtype = m.layers.empty() ? dtype_of(m.tok_embd->type) : dtype_of(m.layers[0].wqkv->type);
}

// ------------------------------------------------------------------------------------------- Hugging Face

class hf_finder : public weight_finder {
public:
    explicit hf_finder(const st_checkpoint & ck) : ck_(ck) {}

    std::optional<tensor_source> find(const std::string &, const std::string & name, int64_t ne0, int64_t ne1,
                                      bool is_matrix, bool required) override {
        const st_tensor * t = ck_.find("transformer." + name);
        if (!t) {
            t = ck_.find(name);
        }
        if (!t) {
            if (!required) return std::nullopt;
            fail(BLOOM_ERR_FORMAT, "%s has no tensor '%s' (nor 'transformer.%s')", ck_.describe().c_str(),
                 name.c_str(), name.c_str());
        }
        if (t->dtype == st_dtype::other) {
            fail(BLOOM_ERR_UNSUPPORTED, "tensor '%s' has dtype %s; bloom4j reads F32, F16 and BF16 safetensors",
                 t->name.c_str(), t->dtype_name.c_str());
        }
        // Hugging Face shapes are row-major, outermost first: [rows, cols] is ggml's [ne0 = cols, ne1 = rows].
        const std::vector<int64_t> shape = is_matrix ? std::vector<int64_t>{ne1, ne0} : std::vector<int64_t>{ne0};
        if (t->shape != shape) {
            fail(BLOOM_ERR_FORMAT, "tensor '%s' has shape %s, expected %s from config.json", t->name.c_str(),
                 shape_string(t->shape).c_str(), shape_string(shape).c_str());
        }
        int file_index = 0;
        for (size_t i = 0; i < ck_.files().size(); ++i) {
            if (ck_.files()[i].get() == t->file) file_index = int(i);
        }
        return tensor_source{t->name, ggml_type_of(t->dtype), ne0, ne1, t->data, t->n_bytes, t->file, file_index};
    }

private:
    const st_checkpoint & ck_;
};

// --------------------------------------------------------------------------------------------------- GGUF

class gguf_finder : public weight_finder {
public:
    explicit gguf_finder(const gguf_file & f) : f_(f) {}

    std::optional<tensor_source> find(const std::string & name, const std::string &, int64_t ne0, int64_t ne1,
                                      bool is_matrix, bool required) override {
        const gguf_tensor * t = f_.find_tensor(name);
        if (!t) {
            if (!required) return std::nullopt;
            fail(BLOOM_ERR_FORMAT, "%s has no tensor '%s'", f_.name().c_str(), name.c_str());
        }
        used_.insert(name);
        const bool shape_ok = is_matrix ? (t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1)
                                        : (t->n_dims == 1 && t->ne[0] == ne0);
        if (!shape_ok) {
            std::string got = "[";
            for (int d = 0; d < t->n_dims; ++d) got += (d ? ", " : "") + std::to_string(t->ne[d]);
            const std::string want = is_matrix ? format("[%lld, %lld]", (long long) ne0, (long long) ne1)
                                               : format("[%lld]", (long long) ne0);
            fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (ggml order) from the bloom.* keys",
                 f_.name().c_str(), name.c_str(), (got + "]").c_str(), want.c_str());
        }
        if (!is_supported_type(t->type)) {
            fail(BLOOM_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s; bloom4j runs F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
                 "Q5_0, Q5_1 and Q2_K..Q6_K", f_.name().c_str(), name.c_str(), ggml_type_name(t->type));
        }
        return tensor_source{name, t->type, ne0, ne1, t->data, t->n_bytes, &f_.file(), 0};
    }

    // llama.cpp refuses a file with tensors its model does not create; so do we, rather than run a different model.
    void check_all_used() const {
        for (const gguf_tensor & t : f_.tensors()) {
            if (!used_.count(t.name)) {
                fail(BLOOM_ERR_FORMAT, "%s has a tensor '%s' that BLOOM does not have", f_.name().c_str(), t.name.c_str());
            }
        }
    }

private:
    const gguf_file &     f_;
    std::set<std::string> used_;
};

ggml_context * new_meta_context(size_t n_tensors) {
    ggml_init_params ip = { ggml_tensor_overhead() * (n_tensors + 1), nullptr, true };
    ggml_context * ctx = ggml_init(ip);
    if (!ctx) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate tensor metadata");
    }
    return ctx;
}

} // namespace

std::unique_ptr<model> model::load(const std::string & path, const bloom_model_params & params) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        // A file is a GGUF model if it says so, or claims to by its name (then a bad magic is a corrupt file);
        // any other file is not a model at all, which load_hf reports.
        char magic[4] = {};
        if (std::FILE * f = std::fopen(path.c_str(), "rb")) {
            const size_t n = std::fread(magic, 1, 4, f);
            std::fclose(f);
            const bool named = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
            if ((n == 4 && std::memcmp(magic, "GGUF", 4) == 0) || named) {
                return load_gguf(path, params);
            }
        }
    }
    return load_hf(path, params);
}

std::unique_ptr<model> model::load_hf(const std::string & dir, const bloom_model_params & params) {
    if (!is_dir(dir)) {
        struct stat st;
        if (::stat(dir.c_str(), &st) != 0) {
            fail(BLOOM_ERR_IO, "model directory %s does not exist", dir.c_str());
        }
        fail(BLOOM_ERR_IO, "%s is not a directory nor a GGUF file; pass a Hugging Face checkpoint directory "
             "(config.json, tokenizer.json, *.safetensors) or a .gguf file", dir.c_str());
    }
    log_install_ggml();
    auto m = std::make_unique<model>();
    m->hp        = hparams::load_hf(dir + "/config.json");
    m->tokenizer = vocab::load_hf(dir + "/tokenizer.json");
    m->checkpoint = st_checkpoint::open_dir(dir, params.use_mmap);
    const hparams & hp = m->hp;
    if (m->tokenizer->n_tokens() > hp.n_vocab) {
        fail(BLOOM_ERR_FORMAT, "tokenizer.json has %d tokens but config.json's vocab_size is %d",
             m->tokenizer->n_tokens(), hp.n_vocab);
    }

    const bool has_lm_head = m->checkpoint->find("lm_head.weight") || m->checkpoint->find("transformer.lm_head.weight");
    const size_t n_tensors = 5 + size_t(hp.n_layer) * 12 + (has_lm_head ? 1 : 0);
    // Before anything is sized by the layer count: an absurd n_layer cannot be backed by tensors in the checkpoint,
    // and sizing by it would ask ggml_init for terabytes (which aborts the process rather than failing). Every layer
    // has 12 tensors, so more layers than tensors is certainly absurd; anything less is left to the per-tensor
    // lookup below, whose error names the missing tensor.
    if (size_t(hp.n_layer) > m->checkpoint->tensors().size()) {
        fail(BLOOM_ERR_FORMAT, "config.json's layer count %d needs %zu tensors but %s has %zu", hp.n_layer, n_tensors,
             m->checkpoint->describe().c_str(), m->checkpoint->tensors().size());
    }
    m->ctx_mapped = new_meta_context(n_tensors);
    m->ctx_owned  = new_meta_context(n_tensors);
    hf_finder f(*m->checkpoint);
    binder b(*m, params, n_tensors);
    fill_table(*m, f, b);

    BLOOM_LOG_INFO("loaded %s: %d layers, %d hidden, %d heads, vocab %d, %lld parameters, %s weights, from %s",
                   dir.c_str(), hp.n_layer, hp.n_embd, hp.n_head, hp.n_vocab, (long long) m->n_params,
                   bloom_dtype_name(m->weight_dtype), m->checkpoint->describe().c_str());
    return m;
}

std::unique_ptr<model> model::load_gguf(const std::string & path, const bloom_model_params & params) {
    log_install_ggml();
    auto m = std::make_unique<model>();
    m->gguf = gguf_file::open(path, params.use_mmap);
    const gguf_file & f = *m->gguf;
    m->hp = read_gguf_hparams(f);
    const vocab::gguf_data vd = read_gguf_vocab(f);
    m->tokenizer = vocab::from_gguf(vd, f.name());
    // The converter writes [all q; all k; all v] rows, not Hugging Face's per-head interleaving.
    m->qkv_interleaved = false;

    hparams & hp = m->hp;
    // Before anything is sized by block_count: an absurd count cannot be backed by tensors in the file.
    const size_t n_tensors = 5 + size_t(hp.n_layer) * 12;  // output.weight, when present, is one more
    if (n_tensors > f.tensors().size()) {
        fail(BLOOM_ERR_FORMAT, "%s: bloom.block_count %d needs %zu tensors but the file has %zu", f.name().c_str(),
             hp.n_layer, n_tensors, f.tensors().size());
    }
    // As in llama.cpp, the vocabulary size is the tokenizer's entry count, and the embedding must have that many rows.
    const gguf_tensor * embd = f.find_tensor("token_embd.weight");
    if (!embd) {
        fail(BLOOM_ERR_FORMAT, "%s has no tensor 'token_embd.weight'", f.name().c_str());
    }
    const size_t n_vocab = vd.tokens.size();
    if (embd->ne[1] != int64_t(n_vocab)) {
        fail(BLOOM_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %zu entries but token_embd.weight has %lld rows",
             f.name().c_str(), n_vocab, (long long) embd->ne[1]);
    }
    hp.n_vocab = int32_t(n_vocab);

    m->ctx_mapped = new_meta_context(n_tensors + 1);
    m->ctx_owned  = new_meta_context(n_tensors + 1);
    gguf_finder finder(f);
    binder b(*m, params, n_tensors + (f.find_tensor("output.weight") ? 1 : 0));
    fill_table(*m, finder, b);
    finder.check_all_used();

    BLOOM_LOG_INFO("loaded %s: %d layers, %d hidden, %d heads, vocab %d, %lld parameters, %s weights", path.c_str(),
                   hp.n_layer, hp.n_embd, hp.n_head, hp.n_vocab, (long long) m->n_params,
                   bloom_dtype_name(m->weight_dtype));
    return m;
}

} // namespace bloom
