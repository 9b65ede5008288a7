#include "bloom-model.h"

#include "bloom-error.h"
#include "bloom-log.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cstring>
#include <map>
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

// Binds Hugging Face tensor names to ggml tensors. Matrices stay in their stored dtype and are used in place
// from the file mapping; vectors (norms, biases) are converted to f32, which ggml's element-wise ops want.
class hf_binder {
public:
    hf_binder(model & m, const st_checkpoint & ck, const bloom_model_params & params, size_t n_expected)
        : m_(m), ck_(ck), params_(params), n_expected_(n_expected) {}

    // A weight matrix of HF shape [rows, cols], or nullptr if optional and absent.
    ggml_tensor * matrix(const std::string & name, int64_t rows, int64_t cols, bool required = true) {
        const st_tensor * t = lookup(name, required);
        if (!t) {
            return nullptr;
        }
        check(*t, {rows, cols});
        ggml_tensor * g = ggml_new_tensor_2d(m_.ctx_mapped, ggml_type_of(t->dtype), cols, rows);
        ggml_set_name(g, t->name.c_str());
        pending_.push_back({g, t});
        m_.n_params += rows * cols;
        progress();
        return g;
    }

    // A vector of n elements, converted to f32.
    ggml_tensor * vector(const std::string & name, int64_t n) {
        const st_tensor * t = lookup(name, true);
        check(*t, {n});
        ggml_tensor * g = ggml_new_tensor_1d(m_.ctx_owned, GGML_TYPE_F32, n);
        ggml_set_name(g, t->name.c_str());
        owned_.push_back({g, t});
        m_.n_params += n;
        return g;
    }

    // Allocates and fills every tensor declared so far.
    void bind() {
        // In place: one CPU buffer over each file mapping.
        std::map<const mapped_file *, ggml_backend_buffer_t> file_buffers;
        for (const mapped_file * f : files_in(pending_)) {
            ggml_backend_buffer_t b = ggml_backend_cpu_buffer_from_ptr(const_cast<uint8_t *>(f->data()), f->size());
            if (!b) {
                fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot wrap %s in a ggml buffer", f->path().c_str());
            }
            m_.buffers.push_back(b);
            file_buffers[f] = b;
        }
        for (const auto & [g, t] : pending_) {
            if (ggml_backend_tensor_alloc(file_buffers[t->file], g, const_cast<uint8_t *>(t->data)) != GGML_STATUS_SUCCESS) {
                fail(BLOOM_ERR_INTERNAL, "cannot bind tensor '%s' to its file mapping", t->name.c_str());
            }
        }
        // Converted: one owned buffer for all vectors.
        ggml_backend_buffer_t owned = ggml_backend_alloc_ctx_tensors_from_buft(m_.ctx_owned, ggml_backend_cpu_buffer_type());
        if (!owned) {
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate the model's f32 vectors");
        }
        m_.buffers.push_back(owned);
        std::vector<float> tmp;
        for (const auto & [g, t] : owned_) {
            const int64_t n = t->n_elements();
            tmp.resize(size_t(n));
            const uint16_t * h = reinterpret_cast<const uint16_t *>(t->data);
            switch (t->dtype) {
                case st_dtype::f32:  std::memcpy(tmp.data(), t->data, size_t(n) * 4); break;
                case st_dtype::f16:  for (int64_t i = 0; i < n; ++i) tmp[i] = ggml_fp16_to_fp32(h[i]); break;
                case st_dtype::bf16: for (int64_t i = 0; i < n; ++i) { uint32_t u = uint32_t(h[i]) << 16; std::memcpy(&tmp[i], &u, 4); } break;
                default: GGML_ABORT("dtype checked before");
            }
            ggml_backend_tensor_set(g, tmp.data(), 0, size_t(n) * 4);
            progress();
        }
    }

private:
    const st_tensor * lookup(const std::string & name, bool required) {
        const st_tensor * t = ck_.find("transformer." + name);
        if (!t) {
            t = ck_.find(name);
        }
        if (!t && required) {
            fail(BLOOM_ERR_FORMAT, "%s has no tensor '%s' (nor 'transformer.%s')", ck_.describe().c_str(), name.c_str(),
                 name.c_str());
        }
        return t;
    }

    void check(const st_tensor & t, const std::vector<int64_t> & shape) {
        if (t.dtype == st_dtype::other) {
            fail(BLOOM_ERR_UNSUPPORTED, "tensor '%s' has dtype %s; bloom4j reads F32, F16 and BF16 safetensors",
                 t.name.c_str(), t.dtype_name.c_str());
        }
        if (t.shape != shape) {
            fail(BLOOM_ERR_FORMAT, "tensor '%s' has shape %s, expected %s from config.json", t.name.c_str(),
                 shape_string(t.shape).c_str(), shape_string(shape).c_str());
        }
    }

    static std::vector<const mapped_file *> files_in(const std::vector<std::pair<ggml_tensor *, const st_tensor *>> & v) {
        std::vector<const mapped_file *> out;
        for (const auto & p : v) {
            if (std::find(out.begin(), out.end(), p.second->file) == out.end()) {
                out.push_back(p.second->file);
            }
        }
        return out;
    }

    void progress() {
        ++n_done_;
        if (params_.progress_callback &&
            !params_.progress_callback(float(n_done_) / float(n_expected_), params_.progress_user_data)) {
            fail(BLOOM_ERR_CANCELLED, "loading was cancelled by the progress callback");
        }
    }

    model &                                                 m_;
    const st_checkpoint &                                   ck_;
    const bloom_model_params &                              params_;
    size_t                                                  n_expected_;
    size_t                                                  n_done_ = 0;
    std::vector<std::pair<ggml_tensor *, const st_tensor *>> pending_;
    std::vector<std::pair<ggml_tensor *, const st_tensor *>> owned_;
};

} // namespace

std::unique_ptr<model> model::load_hf(const std::string & dir, const bloom_model_params & params) {
    if (!is_dir(dir)) {
        struct stat st;
        if (::stat(dir.c_str(), &st) != 0) {
            fail(BLOOM_ERR_IO, "model directory %s does not exist", dir.c_str());
        }
        fail(BLOOM_ERR_IO, "%s is not a directory; pass the Hugging Face checkpoint directory (config.json, "
             "tokenizer.json, *.safetensors)", dir.c_str());
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

    const size_t n_tensors = 6 + size_t(hp.n_layer) * 12;  // lm_head, when present, is one more
    ggml_init_params ip = { ggml_tensor_overhead() * (n_tensors + 1), nullptr, true };
    m->ctx_mapped = ggml_init(ip);
    m->ctx_owned  = ggml_init(ip);
    if (!m->ctx_mapped || !m->ctx_owned) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate tensor metadata");
    }

    const int64_t E = hp.n_embd, V = hp.n_vocab;
    hf_binder b(*m, *m->checkpoint, params, n_tensors);
    m->tok_embd   = b.matrix("word_embeddings.weight", V, E);
    m->tok_norm   = b.vector("word_embeddings_layernorm.weight", E);
    m->tok_norm_b = b.vector("word_embeddings_layernorm.bias", E);
    m->layers.resize(size_t(hp.n_layer));
    for (int il = 0; il < hp.n_layer; ++il) {
        layer & l = m->layers[size_t(il)];
        const std::string p = "h." + std::to_string(il) + ".";
        l.attn_norm   = b.vector(p + "input_layernorm.weight", E);
        l.attn_norm_b = b.vector(p + "input_layernorm.bias", E);
        l.wqkv        = b.matrix(p + "self_attention.query_key_value.weight", 3 * E, E);
        l.bqkv        = b.vector(p + "self_attention.query_key_value.bias", 3 * E);
        l.wo          = b.matrix(p + "self_attention.dense.weight", E, E);
        l.bo          = b.vector(p + "self_attention.dense.bias", E);
        l.ffn_norm    = b.vector(p + "post_attention_layernorm.weight", E);
        l.ffn_norm_b  = b.vector(p + "post_attention_layernorm.bias", E);
        l.ffn_up      = b.matrix(p + "mlp.dense_h_to_4h.weight", 4 * E, E);
        l.ffn_up_b    = b.vector(p + "mlp.dense_h_to_4h.bias", 4 * E);
        l.ffn_down    = b.matrix(p + "mlp.dense_4h_to_h.weight", E, 4 * E);
        l.ffn_down_b  = b.vector(p + "mlp.dense_4h_to_h.bias", E);
    }
    m->output_norm   = b.vector("ln_f.weight", E);
    m->output_norm_b = b.vector("ln_f.bias", E);
    // lm_head is tied to word_embeddings unless the checkpoint carries its own (it is never prefixed).
    m->output = m->checkpoint->find("lm_head.weight") ? b.matrix("lm_head.weight", V, E, false) : m->tok_embd;
    b.bind();

    switch (m->layers.empty() ? GGML_TYPE_F32 : m->layers[0].wqkv->type) {
        case GGML_TYPE_F16:  m->weight_dtype = BLOOM_DTYPE_F16;  break;
        case GGML_TYPE_BF16: m->weight_dtype = BLOOM_DTYPE_BF16; break;
        default:             m->weight_dtype = BLOOM_DTYPE_F32;  break;
    }
    BLOOM_LOG_INFO("loaded %s: %d layers, %d hidden, %d heads, vocab %d, %lld parameters, %s weights, from %s",
                   dir.c_str(), hp.n_layer, hp.n_embd, hp.n_head, hp.n_vocab, (long long) m->n_params,
                   bloom_dtype_name(m->weight_dtype), m->checkpoint->describe().c_str());
    return m;
}

} // namespace bloom
