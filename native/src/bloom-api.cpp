// The C ABI: argument checks, status conversion and ownership. The only file with extern "C" definitions
// besides bloom_log_set (bloom-log.cpp), and the only place a C++ exception is turned into a status.
#include "bloom.h"

#include "bloom-bench.h"

#include "bloom-context.h"
#include "bloom-convert.h"
#include "bloom-error.h"
#include "bloom-generate.h"
#include "bloom-log.h"
#include "bloom-model.h"
#include "bloom-rpc.h"
#include "bloom-sampler.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

struct bloom_model       { std::unique_ptr<bloom::model> impl; };
struct bloom_context     { std::unique_ptr<bloom::context> impl; };
struct bloom_sampler     { std::unique_ptr<bloom::sampler> impl; };
struct bloom_detokenizer { std::unique_ptr<bloom::detokenizer> impl; };
struct bloom_generator   { std::unique_ptr<bloom::generator> impl; };

namespace {

// Runs body, turning every exception into a status and the thread's last error.
template <typename F>
int32_t guarded(F && body) {
    try {
        bloom::set_last_error("");
        body();
        return BLOOM_OK;
    } catch (const bloom::error & e) {
        bloom::set_last_error(e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        bloom::set_last_error("out of memory");
        return BLOOM_ERR_OUT_OF_MEMORY;
    } catch (const std::exception & e) {
        bloom::set_last_error(std::string("internal error: ") + e.what());
        return BLOOM_ERR_INTERNAL;
    } catch (...) {
        bloom::set_last_error("internal error: unknown exception");
        return BLOOM_ERR_INTERNAL;
    }
}

template <typename T>
void require(const T * p, const char * what) {
    if (!p) {
        bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "%s is NULL", what);
    }
}

// A caller's params struct over the defaults: NULL is the defaults; a size between the first sized version (ABI 7,
// min_size) and this library's sizeof is a caller built against that version, whose missing fields keep their
// defaults.
template <typename P>
P resolve_params(const P * params, P defaults, const char * name, size_t min_size = sizeof(P)) {
    if (!params) {
        return defaults;
    }
    if (params->size < min_size || params->size > sizeof(P)) {
        bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "%s.size is %u, but this library takes %zu to %zu: fill the struct "
                    "with %s_default_params(), which sets it", name, params->size, min_size, sizeof(P), name);
    }
    P out = defaults;
    std::memcpy(static_cast<void *>(&out), params, params->size);
    out.size = uint32_t(sizeof(P));
    return out;
}

// Copies bytes into a caller buffer, or reports the size needed.
void copy_out(char * buf, size_t capacity, size_t * out_len, const std::string & s) {
    require(out_len, "out_len");
    *out_len = s.size();
    if (s.size() > capacity) {
        bloom::fail(BLOOM_ERR_BUFFER_TOO_SMALL, "the buffer holds %zu bytes, %zu are needed", capacity, s.size());
    }
    if (!s.empty()) {
        require(buf, "buf");
        std::memcpy(buf, s.data(), s.size());
    }
}

template <typename T>
void copy_out(T * buf, size_t capacity, size_t * out_n, const std::vector<T> & v) {
    require(out_n, "out_n");
    *out_n = v.size();
    if (v.size() > capacity) {
        bloom::fail(BLOOM_ERR_BUFFER_TOO_SMALL, "the buffer holds %zu entries, %zu are needed", capacity, v.size());
    }
    if (!v.empty()) {
        require(buf, "buffer");
        std::memcpy(buf, v.data(), v.size() * sizeof(T));
    }
}

void check_token(const bloom::model & m, bloom_token token) {
    if (token < 0 || token >= m.hp.n_vocab) {
        bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "token id %d is out of range [0, %d)", token, m.hp.n_vocab);
    }
}

std::string build_version_string() {
    std::string s = std::to_string(BLOOM_VERSION_MAJOR) + "." + std::to_string(BLOOM_VERSION_MINOR) + "." +
                    std::to_string(BLOOM_VERSION_PATCH) + " (ggml " + ggml_version() + ", " BLOOM_GGML_ORIGIN ", cpu " +
                    BLOOM_CPU_VARIANT + ":";
    const std::pair<const char *, int> features[] = {
        {"sse3", ggml_cpu_has_sse3()}, {"ssse3", ggml_cpu_has_ssse3()}, {"avx", ggml_cpu_has_avx()},
        {"avx2", ggml_cpu_has_avx2()}, {"f16c", ggml_cpu_has_f16c()}, {"fma", ggml_cpu_has_fma()},
        {"avx512", ggml_cpu_has_avx512()}, {"avx512_vbmi", ggml_cpu_has_avx512_vbmi()},
        {"avx512_vnni", ggml_cpu_has_avx512_vnni()}, {"avx512_bf16", ggml_cpu_has_avx512_bf16()},
        {"amx_int8", ggml_cpu_has_amx_int8()},
        // aarch64: the extensions the variant was compiled with (these report the build, like the x86 ones above;
        // ggml's NEON and SVE-width queries would need its CPU backend initialised first).
        {"dotprod", ggml_cpu_has_dotprod()}, {"fp16", ggml_cpu_has_fp16_va()}, {"i8mm", ggml_cpu_has_matmul_int8()},
        {"sve", ggml_cpu_has_sve()},
    };
    for (const auto & [name, on] : features) {
        if (on) {
            s += std::string(" ") + name;
        }
    }
    return s + ")";
}

} // namespace

extern "C" {

uint32_t bloom_abi_version(void) { return BLOOM_ABI_VERSION; }

const char * bloom_version_string(void) {
    static const std::string v = build_version_string();
    return v.c_str();
}

const char * bloom_status_string(int32_t status) {
    switch (status) {
        case BLOOM_OK:                   return "ok";
        case BLOOM_ERR_INVALID_ARGUMENT: return "invalid argument";
        case BLOOM_ERR_IO:               return "I/O error";
        case BLOOM_ERR_FORMAT:           return "invalid file format";
        case BLOOM_ERR_UNSUPPORTED:      return "unsupported";
        case BLOOM_ERR_OUT_OF_MEMORY:    return "out of memory";
        case BLOOM_ERR_CONTEXT_FULL:     return "context full";
        case BLOOM_ERR_BUFFER_TOO_SMALL: return "buffer too small";
        case BLOOM_ERR_CANCELLED:        return "cancelled";
        case BLOOM_ERR_BUSY:             return "busy";
        case BLOOM_ERR_INTERNAL:         return "internal error";
        case BLOOM_ERR_REMOTE:           return "RPC server error";
        default:                         return "unknown status";
    }
}

const char * bloom_last_error(void) { return bloom::last_error(); }

const char * bloom_dtype_name(int32_t dtype) {
    switch (dtype) {
        case BLOOM_DTYPE_F32:  return "f32";
        case BLOOM_DTYPE_F16:  return "f16";
        case BLOOM_DTYPE_BF16: return "bf16";
        case BLOOM_DTYPE_Q8_0: return "q8_0";
        case BLOOM_DTYPE_Q4_0: return "q4_0";
        case BLOOM_DTYPE_Q4_1: return "q4_1";
        case BLOOM_DTYPE_Q5_0: return "q5_0";
        case BLOOM_DTYPE_Q5_1: return "q5_1";
        case BLOOM_DTYPE_Q2_K: return "q2_k";
        case BLOOM_DTYPE_Q3_K: return "q3_k";
        case BLOOM_DTYPE_Q4_K: return "q4_k";
        case BLOOM_DTYPE_Q5_K: return "q5_k";
        case BLOOM_DTYPE_Q6_K: return "q6_k";
        default:               return "unknown";
    }
}

static const char * const k_ftype_names[] = {
    "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
    "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k",
};

const char * bloom_ftype_name(int32_t ftype) {
    const int32_t n = int32_t(sizeof(k_ftype_names) / sizeof(k_ftype_names[0]));
    return ftype >= 0 && ftype < n ? k_ftype_names[ftype] : "unknown";
}

int32_t bloom_ftype_from_name(int32_t * out_ftype, const char * name, size_t name_len) {
    return guarded([&] {
        require(out_ftype, "out_ftype");
        if (name_len > 0) {
            require(name, "name");
        }
        std::string lower(name ? name : "", name_len);
        for (char & c : lower) {
            c = char(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string valid;
        for (size_t i = 0; i < sizeof(k_ftype_names) / sizeof(k_ftype_names[0]); ++i) {
            if (lower == k_ftype_names[i]) {
                *out_ftype = int32_t(i);
                return;
            }
            valid += (i ? ", " : "") + std::string(k_ftype_names[i]);
        }
        bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "unknown file type '%s'; valid: %s", lower.c_str(), valid.c_str());
    });
}

// ---------------------------------------------------------------- devices

int32_t bloom_device_count(void) {
    return int32_t(ggml_backend_dev_count());
}

int32_t bloom_device_get_info(bloom_device_info * out_info, int32_t index) {
    return guarded([&] {
        require(out_info, "out_info");
        if (index < 0 || size_t(index) >= ggml_backend_dev_count()) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "device index %d is out of range [0, %zu)", index,
                        ggml_backend_dev_count());
        }
        ggml_backend_dev_t d = ggml_backend_dev_get(size_t(index));
        bloom_device_info info = {};
        std::snprintf(info.name, sizeof info.name, "%s", ggml_backend_dev_name(d));
        std::snprintf(info.description, sizeof info.description, "%s", ggml_backend_dev_description(d));
        switch (ggml_backend_dev_type(d)) {
            case GGML_BACKEND_DEVICE_TYPE_CPU:   info.type = BLOOM_DEVICE_CPU; break;
            case GGML_BACKEND_DEVICE_TYPE_GPU:   info.type = BLOOM_DEVICE_GPU; break;
            case GGML_BACKEND_DEVICE_TYPE_IGPU:  info.type = BLOOM_DEVICE_IGPU; break;
            default:                             info.type = BLOOM_DEVICE_ACCEL; break;
        }
        size_t free_mem = 0, total_mem = 0;
        bloom::rpc::device_memory(d, &free_mem, &total_mem);
        info.memory_free = free_mem;
        info.memory_total = total_mem;
        *out_info = info;
    });
}

int32_t bloom_rpc_add_server(const char * endpoint, size_t endpoint_len, int32_t timeout_ms) {
    return guarded([&] {
        require(endpoint, "endpoint");
        bloom::log_install_ggml();
        const auto endpoints = bloom::rpc::parse_endpoints(std::string_view(endpoint, endpoint_len));
        if (endpoints.size() != 1) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "bloom_rpc_add_server takes one host:port, not %zu",
                        endpoints.size());
        }
        bloom::rpc::connect(endpoints, timeout_ms);
    });
}

int32_t bloom_rpc_serve(const char * endpoint, size_t endpoint_len, const char * devices, size_t devices_len,
                        int32_t n_threads, const char * cache_dir, size_t cache_dir_len) {
    return guarded([&] {
        require(endpoint, "endpoint");
        bloom::log_install_ggml();
        bloom::rpc::serve(std::string(endpoint, endpoint_len),
                          devices ? std::string_view(devices, devices_len) : std::string_view(), n_threads,
                          cache_dir ? std::string(cache_dir, cache_dir_len) : std::string());
    });
}

int32_t bloom_rpc_protocol_version(void) { return bloom::rpc::protocol_version(); }

int32_t bloom_bench_matmul(double * out_seconds, int32_t device, int64_t m, int64_t n, int64_t k, int32_t dtype,
                           int32_t n_threads, int32_t reps) {
    return guarded([&] {
        require(out_seconds, "out_seconds");
        *out_seconds = bloom::bench_matmul(device, m, n, k, dtype, n_threads, reps);
    });
}

int32_t bloom_bench_copy(double * out_seconds, int32_t device, int64_t n_bytes, int32_t n_threads, int32_t reps) {
    return guarded([&] {
        require(out_seconds, "out_seconds");
        *out_seconds = bloom::bench_copy(device, n_bytes, n_threads, reps);
    });
}

// ---------------------------------------------------------------- model

bloom_model_params bloom_model_default_params(void) {
    bloom_model_params p = {};
    p.size         = sizeof(p);
    p.n_gpu_layers = -1;
    p.main_gpu     = 0;
    p.split_mode   = BLOOM_SPLIT_NONE;
    p.use_mmap     = true;
    p.repack       = true;
    p.rpc_timeout_ms = bloom::rpc::k_default_timeout_ms;
    return p;
}

int32_t bloom_model_load(bloom_model ** out_model, const char * path, size_t path_len,
                         const bloom_model_params * params_in) {
    return guarded([&] {
        require(out_model, "out_model");
        require(path, "path");
        const bloom_model_params params = resolve_params(params_in, bloom_model_default_params(), "bloom_model");
        std::string dir(path, path_len);
        if (dir.empty()) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "the model path is empty");
        }
        if (dir.find('\0') != std::string::npos) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "the model path contains a NUL byte");
        }
        while (dir.size() > 1 && dir.back() == '/') {
            dir.pop_back();
        }
        auto impl = bloom::model::load(dir, params);
        if (params.progress_callback) {
            params.progress_callback(1.0f, params.progress_user_data);
        }
        *out_model = new bloom_model{std::move(impl)};
    });
}

void bloom_model_free(bloom_model * model) { delete model; }

int32_t bloom_model_get_info(bloom_model_info * out_info, const bloom_model * model) {
    return guarded([&] {
        require(out_info, "out_info");
        require(model, "model");
        const bloom::model & m = *model->impl;
        bloom_model_info info = {};
        info.n_vocab        = m.hp.n_vocab;
        info.n_vocab_tokens = m.tokenizer->n_tokens();
        info.n_ctx_train    = m.hp.n_ctx_train;
        info.n_layer        = m.hp.n_layer;
        info.n_embd         = m.hp.n_embd;
        info.n_head         = m.hp.n_head;
        info.n_params       = m.n_params;
        info.weight_dtype   = m.weight_dtype;
        info.layer_norm_eps = m.hp.norm_eps;
        info.bos_token      = m.tokenizer->bos();
        info.eos_token      = m.tokenizer->eos();
        info.pad_token      = m.tokenizer->pad();
        info.unk_token      = m.tokenizer->unk();
        info.n_repacked     = m.n_repacked;
        info.n_gpu_layers   = m.n_gpu_layers;
        info.gpu_device     = -1;
        info.n_weight_bytes = m.n_weight_bytes;
        for (size_t i = 0; m.gpu && i < ggml_backend_dev_count(); ++i) {
            if (ggml_backend_dev_get(i) == m.gpu) info.gpu_device = int32_t(i);
        }
        *out_info = info;
    });
}

// ---------------------------------------------------------------- tokenizer

int32_t bloom_tokenize(bloom_token * tokens, size_t capacity, size_t * out_n_tokens, const bloom_model * model,
                       const char * text, size_t text_len, bool parse_special) {
    return guarded([&] {
        require(model, "model");
        require(out_n_tokens, "out_n_tokens");
        if (text_len > 0) {
            require(text, "text");
        }
        copy_out(tokens, capacity, out_n_tokens,
                 model->impl->tokenizer->tokenize(std::string_view(text ? text : "", text_len), parse_special));
    });
}

int32_t bloom_token_to_piece(char * buf, size_t capacity, size_t * out_len, const bloom_model * model, bloom_token token) {
    return guarded([&] {
        require(model, "model");
        check_token(*model->impl, token);
        copy_out(buf, capacity, out_len, model->impl->tokenizer->token_to_piece(token));
    });
}

int32_t bloom_token_to_string(char * buf, size_t capacity, size_t * out_len, const bloom_model * model, bloom_token token) {
    return guarded([&] {
        require(model, "model");
        check_token(*model->impl, token);
        copy_out(buf, capacity, out_len, model->impl->tokenizer->token_to_string(token));
    });
}

int32_t bloom_detokenize(char * buf, size_t capacity, size_t * out_len, const bloom_model * model,
                         const bloom_token * tokens, size_t n_tokens, bool skip_special) {
    return guarded([&] {
        require(model, "model");
        if (n_tokens > 0) {
            require(tokens, "tokens");
        }
        for (size_t i = 0; i < n_tokens; ++i) {
            check_token(*model->impl, tokens[i]);
        }
        copy_out(buf, capacity, out_len, model->impl->tokenizer->decode(tokens, n_tokens, skip_special));
    });
}

int32_t bloom_detokenizer_init(bloom_detokenizer ** out, const bloom_model * model, bool skip_special) {
    return guarded([&] {
        require(out, "out");
        require(model, "model");
        *out = new bloom_detokenizer{std::make_unique<bloom::detokenizer>(*model->impl->tokenizer, skip_special)};
    });
}

void bloom_detokenizer_free(bloom_detokenizer * detokenizer) { delete detokenizer; }

int32_t bloom_detokenizer_push(char * buf, size_t capacity, size_t * out_len, bloom_detokenizer * detokenizer,
                               bloom_token token) {
    return guarded([&] {
        require(detokenizer, "detokenizer");
        require(out_len, "out_len");
        // Work on a copy so that a too-small buffer consumes nothing.
        bloom::detokenizer trial = *detokenizer->impl;
        const std::string text = trial.push(token);
        copy_out(buf, capacity, out_len, text);
        *detokenizer->impl = trial;
    });
}

int32_t bloom_detokenizer_flush(char * buf, size_t capacity, size_t * out_len, bloom_detokenizer * detokenizer) {
    return guarded([&] {
        require(detokenizer, "detokenizer");
        bloom::detokenizer trial = *detokenizer->impl;
        copy_out(buf, capacity, out_len, trial.flush());
        *detokenizer->impl = trial;
    });
}

// ---------------------------------------------------------------- context

bloom_context_params bloom_context_default_params(void) {
    bloom_context_params p = {};
    p.size      = sizeof(p);
    p.n_seq_max = 1;
    p.n_ctx     = 2048;
    p.n_batch   = 512;
    p.n_threads  = 0;
    p.type_kv    = BLOOM_KV_AUTO;
    p.flash_attn = BLOOM_FLASH_ATTN_AUTO;
    return p;
}

int32_t bloom_context_init(bloom_context ** out, bloom_model * model, const bloom_context_params * params) {
    return guarded([&] {
        require(out, "out");
        require(model, "model");
        const bloom_context_params p = resolve_params(params, bloom_context_default_params(), "bloom_context");
        *out = new bloom_context{std::make_unique<bloom::context>(*model->impl, p)};
    });
}

void bloom_context_free(bloom_context * ctx) { delete ctx; }

int32_t bloom_context_decode(bloom_context * ctx, const bloom_token * tokens, size_t n_tokens, bool all_logits) {
    return guarded([&] {
        require(ctx, "ctx");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->decode(tokens, n_tokens, all_logits);
    });
}

int32_t bloom_context_get_logits(const float ** out_logits, size_t * out_n_rows, const bloom_context * ctx) {
    return guarded([&] {
        require(out_logits, "out_logits");
        require(out_n_rows, "out_n_rows");
        require(ctx, "ctx");
        if (ctx->impl->n_logit_rows() == 0) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "no logits: nothing was decoded since the context was created or truncated");
        }
        *out_logits = ctx->impl->logits().data();
        *out_n_rows = ctx->impl->n_logit_rows();
    });
}

int32_t bloom_context_token_logprobs(float * out_logprobs, const bloom_context * ctx, const bloom_token * targets,
                                     size_t n) {
    return guarded([&] {
        require(ctx, "ctx");
        if (n == 0) {
            return;
        }
        require(out_logprobs, "out_logprobs");
        require(targets, "targets");
        const bloom::context & c = *ctx->impl;
        if (n > c.n_logit_rows()) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "%zu targets but only %zu logits rows (decode with all_logits)", n,
                        c.n_logit_rows());
        }
        const int32_t n_vocab = c.get_model().hp.n_vocab;
        for (size_t i = 0; i < n; ++i) {
            check_token(c.get_model(), targets[i]);
            const float * row = c.logits().data() + i * size_t(n_vocab);
            float max_l = row[0];
            for (int32_t v = 1; v < n_vocab; ++v) {
                max_l = std::max(max_l, row[v]);
            }
            double sum = 0.0;
            for (int32_t v = 0; v < n_vocab; ++v) {
                sum += std::exp(double(row[v]) - double(max_l));
            }
            out_logprobs[i] = float(double(row[targets[i]]) - double(max_l) - std::log(sum));
        }
    });
}

uint32_t bloom_context_n_past(const bloom_context * ctx) { return ctx ? ctx->impl->n_past() : 0; }
uint32_t bloom_context_n_ctx(const bloom_context * ctx) { return ctx ? ctx->impl->n_ctx() : 0; }

int32_t bloom_context_get_params(bloom_context_params * out_params, const bloom_context * ctx) {
    return guarded([&] {
        require(out_params, "out_params");
        require(ctx, "ctx");
        const bloom_context_params & p = ctx->impl->params();
        if (out_params->size < sizeof(uint32_t) || out_params->size > sizeof(p)) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "out_params->size is %u: set it with "
                        "bloom_context_default_params()", out_params->size);
        }
        const uint32_t size = out_params->size;
        std::memcpy(static_cast<void *>(out_params), &p, size);
        out_params->size = size;
    });
}

int32_t bloom_context_get_tokens(bloom_token * tokens, size_t capacity, size_t * out_n, const bloom_context * ctx) {
    return guarded([&] {
        require(ctx, "ctx");
        copy_out(tokens, capacity, out_n, ctx->impl->tokens());
    });
}

int32_t bloom_context_truncate(bloom_context * ctx, uint32_t n_keep) {
    return guarded([&] {
        require(ctx, "ctx");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->truncate(n_keep);
    });
}

// ---------------------------------------------------------------- many sequences

int32_t bloom_context_decode_batch(bloom_context * ctx, const bloom_batch * batch) {
    return guarded([&] {
        require(ctx, "ctx");
        require(batch, "batch");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->decode_batch(*batch);
    });
}

int32_t bloom_context_get_logits_ith(const float ** out_logits, const bloom_context * ctx, int32_t i) {
    return guarded([&] {
        require(out_logits, "out_logits");
        require(ctx, "ctx");
        const float * row = ctx->impl->logits_ith(i);
        if (!row) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "token %d of the last batch has no logits row (outside the batch, "
                        "not asked for, or cleared since)", i);
        }
        *out_logits = row;
    });
}

int32_t bloom_context_seq_rm(bloom_context * ctx, int32_t seq_id, int32_t p0, int32_t p1) {
    return guarded([&] {
        require(ctx, "ctx");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->seq_rm(seq_id, p0, p1);
    });
}

int32_t bloom_context_seq_cp(bloom_context * ctx, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    return guarded([&] {
        require(ctx, "ctx");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->seq_cp(src, dst, p0, p1);
    });
}

int32_t bloom_context_seq_keep(bloom_context * ctx, int32_t seq_id) {
    return guarded([&] {
        require(ctx, "ctx");
        bloom::context::guard g(*ctx->impl);
        ctx->impl->seq_keep(seq_id);
    });
}

int32_t bloom_context_seq_n_past(const bloom_context * ctx, int32_t seq_id) {
    if (!ctx || seq_id < 0 || uint32_t(seq_id) >= ctx->impl->n_seq_max()) {
        return -1;
    }
    return ctx->impl->seq_n_past(seq_id);
}

int32_t bloom_context_seq_tokens(bloom_token * tokens, size_t capacity, size_t * out_n, const bloom_context * ctx,
                                 int32_t seq_id) {
    return guarded([&] {
        require(ctx, "ctx");
        ctx->impl->check_seq(seq_id, "seq_id");
        copy_out(tokens, capacity, out_n, ctx->impl->seq_tokens(seq_id));
    });
}

uint32_t bloom_context_cells_used(const bloom_context * ctx) {
    return ctx ? ctx->impl->n_ctx() - ctx->impl->cells_available() : 0;
}

// ---------------------------------------------------------------- sampler

bloom_sampler_params bloom_sampler_default_params(void) {
    bloom_sampler_params p = {};
    p.size               = sizeof(p);
    p.seed               = 0x5EED;
    p.temperature        = 0.0f;
    p.top_k              = 0;
    p.top_p              = 1.0f;
    p.min_p              = 0.0f;
    p.repetition_penalty = 1.0f;
    p.presence_penalty   = 0.0f;
    p.frequency_penalty  = 0.0f;
    p.penalty_last_n     = -1;
    return p;
}

int32_t bloom_sampler_init(bloom_sampler ** out, const bloom_model * model, const bloom_sampler_params * params) {
    return guarded([&] {
        require(out, "out");
        require(model, "model");
        const bloom_sampler_params p = resolve_params(params, bloom_sampler_default_params(), "bloom_sampler");
        *out = new bloom_sampler{std::make_unique<bloom::sampler>(model->impl->hp.n_vocab, p)};
    });
}

void bloom_sampler_free(bloom_sampler * sampler) { delete sampler; }

int32_t bloom_sampler_accept(bloom_sampler * sampler, bloom_token token) {
    return guarded([&] {
        require(sampler, "sampler");
        sampler->impl->accept(token);
    });
}

void bloom_sampler_reset(bloom_sampler * sampler) {
    if (sampler) {
        sampler->impl->reset();
    }
}

int32_t bloom_sampler_sample(bloom_token * out_token, bloom_sampler * sampler, const bloom_context * ctx) {
    return guarded([&] {
        require(out_token, "out_token");
        require(sampler, "sampler");
        require(ctx, "ctx");
        const float * logits = ctx->impl->last_logits();
        if (!logits) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "the context has no logits to sample from; decode first");
        }
        *out_token = sampler->impl->sample(logits);
    });
}

int32_t bloom_sampler_sample_ith(bloom_token * out_token, bloom_sampler * sampler, const bloom_context * ctx, int32_t i) {
    return guarded([&] {
        require(out_token, "out_token");
        require(sampler, "sampler");
        require(ctx, "ctx");
        const float * logits = ctx->impl->logits_ith(i);
        if (!logits) {
            bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "token %d of the last batch has no logits row to sample from", i);
        }
        *out_token = sampler->impl->sample(logits);
    });
}

// ---------------------------------------------------------------- generation

bloom_generate_params bloom_generate_default_params(void) {
    bloom_generate_params p = {};
    p.size       = sizeof(p);
    p.max_tokens = 128;
    p.seq_id     = 0;
    return p;
}

int32_t bloom_generate(bloom_generate_result * out_result, bloom_context * ctx, bloom_sampler * sampler,
                       const bloom_token * prompt, size_t n_prompt, const bloom_generate_params * params) {
    return guarded([&] {
        require(out_result, "out_result");
        require(ctx, "ctx");
        require(sampler, "sampler");
        const bloom_generate_params p = resolve_params(params, bloom_generate_default_params(), "bloom_generate");
        bloom::context::guard g(*ctx->impl);
        *out_result = bloom::generate(*ctx->impl, *sampler->impl, prompt, n_prompt, p);
    });
}

int32_t bloom_generator_init(bloom_generator ** out, bloom_context * ctx, bloom_sampler * sampler,
                             const bloom_token * prompt, size_t n_prompt, const bloom_generate_params * params) {
    return guarded([&] {
        require(out, "out");
        require(ctx, "ctx");
        require(sampler, "sampler");
        const bloom_generate_params p = resolve_params(params, bloom_generate_default_params(), "bloom_generate");
        bloom::context::guard g(*ctx->impl);
        *out = new bloom_generator{std::make_unique<bloom::generator>(*ctx->impl, *sampler->impl, prompt, n_prompt, p)};
    });
}

void bloom_generator_free(bloom_generator * generator) { delete generator; }

int32_t bloom_generator_step(bloom_generator_event * out_event, bloom_generator * generator) {
    return guarded([&] {
        require(out_event, "out_event");
        require(generator, "generator");
        bloom::context::guard g(generator->impl->ctx());
        generator->impl->step_one();
        *out_event = generator->impl->event();
    });
}

int32_t bloom_context_step(bloom_generator_event * out_events, bloom_context * ctx,
                           bloom_generator * const * generators, size_t n) {
    return guarded([&] {
        require(ctx, "ctx");
        if (n == 0) {
            return;
        }
        require(out_events, "out_events");
        require(generators, "generators");
        std::vector<bloom::generator *> gens(n);
        for (size_t i = 0; i < n; ++i) {
            if (!generators[i]) {
                bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "generator %zu is NULL", i);
            }
            gens[i] = generators[i]->impl.get();
        }
        bloom::context::guard g(*ctx->impl);
        bloom::generator::step(*ctx->impl, gens.data(), n);
        for (size_t i = 0; i < n; ++i) {
            out_events[i] = gens[i]->event();
        }
    });
}

int32_t bloom_generator_get_result(bloom_generate_result * out_result, const bloom_generator * generator) {
    return guarded([&] {
        require(out_result, "out_result");
        require(generator, "generator");
        *out_result = generator->impl->result();
    });
}

int32_t bloom_generator_get_logprobs(float * out_logprob, bloom_token * out_top_ids, float * out_top_logprobs,
                                     size_t capacity, size_t * out_n, const bloom_generator * generator) {
    return guarded([&] {
        require(out_logprob, "out_logprob");
        require(out_n, "out_n");
        require(generator, "generator");
        generator->impl->logprobs(out_logprob, out_top_ids, out_top_logprobs, capacity, out_n);
    });
}

// ---------------------------------------------------------------- conversion

bloom_convert_params bloom_convert_default_params(void) {
    bloom_convert_params p = {};
    p.size      = sizeof(p);
    p.ftype     = BLOOM_FTYPE_F16;
    p.n_threads = 0;
    return p;
}

int32_t bloom_convert(const char * in_path, size_t in_path_len, const char * out_path, size_t out_path_len,
                      const bloom_convert_params * params_in) {
    return guarded([&] {
        const bloom_convert_params params = resolve_params(params_in, bloom_convert_default_params(), "bloom_convert");
        require(in_path, "in_path");
        require(out_path, "out_path");
        std::string in(in_path, in_path_len), out(out_path, out_path_len);
        for (const std::string * p : {&in, &out}) {
            if (p->empty()) {
                bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "the %s path is empty", p == &in ? "input" : "output");
            }
            if (p->find('\0') != std::string::npos) {
                bloom::fail(BLOOM_ERR_INVALID_ARGUMENT, "the %s path contains a NUL byte", p == &in ? "input" : "output");
            }
        }
        while (in.size() > 1 && in.back() == '/') {
            in.pop_back();
        }
        bloom::convert(in, out, params);
    });
}

} // extern "C"
