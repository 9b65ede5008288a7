#include "bloom-model.h"

#include "bloom-error.h"
#include "bloom-log.h"

#include "ggml-cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <vector>

namespace bloom {

model::~model() {
    auto free_buffers = [this](bool host_only) {
        for (ggml_backend_buffer_t b : buffers) {
            if (!host_only || ggml_backend_buffer_is_host(b)) ggml_backend_buffer_free(b);
        }
    };
    if (!remote_calls || !remote_calls->get_link()) {
        free_buffers(false);
    } else if (remote_calls->lost()) {
        // Freeing a lost server's buffers would wait forever on its dead connection (bloom-rpc.h): they are leaked.
        free_buffers(true);
    } else {
        try {
            remote_calls->run([&] { free_buffers(false); });
        } catch (const error &) {
            // Lost while freeing: the rest is leaked, as above.
        }
    }
    if (ctx_mapped) {
        ggml_free(ctx_mapped);
    }
    if (ctx_owned) {
        ggml_free(ctx_owned);
    }
}

namespace {

// The alignment ggml's CPU code assumes of a tensor's data: it reads elements, or a block's scale fields, with typed
// loads. GGUF files align tensor data (general.alignment, 32 by default); a safetensors file need not (its data
// section starts right after a header of any length).
size_t required_alignment(ggml_type type) {
    return ggml_is_quantized(type) ? alignof(float) : ggml_type_size(type);
}

bool is_aligned(ggml_type type, const void * p) {
    return reinterpret_cast<uintptr_t>(p) % required_alignment(type) == 0;
}

} // namespace

void tensor_to_f32(ggml_type type, const void * src, float * dst, int64_t n) {
    if (!is_aligned(type, src)) {
        // The row converters read typed elements: convert from an aligned copy (std::vector's storage is aligned
        // for any scalar type), one buffer per thread, reused: the converter calls this once per row.
        thread_local std::vector<uint8_t> aligned;
        const size_t n_bytes = ggml_row_size(type, n);
        aligned.assign(static_cast<const uint8_t *>(src), static_cast<const uint8_t *>(src) + n_bytes);
        src = aligned.data();
    }
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

// The weight types the graph runs, as bloom_dtype and as ggml type: the ones llama-quantize produces for BLOOM and
// the converter's float ones.
constexpr std::pair<bloom_dtype, ggml_type> k_weight_types[] = {
    {BLOOM_DTYPE_F32, GGML_TYPE_F32},   {BLOOM_DTYPE_F16, GGML_TYPE_F16},   {BLOOM_DTYPE_BF16, GGML_TYPE_BF16},
    {BLOOM_DTYPE_Q8_0, GGML_TYPE_Q8_0}, {BLOOM_DTYPE_Q4_0, GGML_TYPE_Q4_0}, {BLOOM_DTYPE_Q4_1, GGML_TYPE_Q4_1},
    {BLOOM_DTYPE_Q5_0, GGML_TYPE_Q5_0}, {BLOOM_DTYPE_Q5_1, GGML_TYPE_Q5_1}, {BLOOM_DTYPE_Q2_K, GGML_TYPE_Q2_K},
    {BLOOM_DTYPE_Q3_K, GGML_TYPE_Q3_K}, {BLOOM_DTYPE_Q4_K, GGML_TYPE_Q4_K}, {BLOOM_DTYPE_Q5_K, GGML_TYPE_Q5_K},
    {BLOOM_DTYPE_Q6_K, GGML_TYPE_Q6_K},
};

} // namespace

bool is_supported_type(ggml_type t) {
    return std::any_of(std::begin(k_weight_types), std::end(k_weight_types), [t](const auto & p) { return p.second == t; });
}

bool supports_op_in(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft, ggml_tensor * op,
                    std::initializer_list<ggml_tensor *> placed) {
    ggml_backend_buffer_t probe = ggml_backend_buft_alloc_buffer(buft, 0);
    if (!probe) return false;
    for (ggml_tensor * t : placed) t->buffer = probe;
    const bool ok = ggml_backend_dev_supports_op(dev, op);
    for (ggml_tensor * t : placed) t->buffer = nullptr;
    ggml_backend_buffer_free(probe);
    return ok;
}

bloom_dtype dtype_of(ggml_type t) {
    for (const auto & [d, g] : k_weight_types) {
        if (g == t) return d;
    }
    return BLOOM_DTYPE_F32;
}

ggml_type ggml_type_of(int32_t dtype) {
    for (const auto & [d, g] : k_weight_types) {
        if (d == dtype) return g;
    }
    return GGML_TYPE_COUNT;
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

// Finds a weight in one file format by its GGUF and Hugging Face names, checking its shape (ggml order) and type.
class weight_finder {
public:
    virtual ~weight_finder() = default;
    // nullopt only when !required and the weight is absent.
    virtual std::optional<tensor_source> find(const std::string & gguf_name, const std::string & hf_name, int64_t ne0,
                                              int64_t ne1, bool is_matrix, bool required) = 0;
};

// Where a model's weights run: which layers go to which GPU, and into which buffer types. Resolved once per load
// from bloom_model_params and the devices ggml finds.
struct placement {
    ggml_backend_dev_t              gpu = nullptr;   // the main GPU, nullptr for CPU only
    std::vector<ggml_backend_dev_t> dev;             // per block, and [n_layer] for the output layer; nullptr: CPU
    ggml_backend_buffer_type_t      split_buft = nullptr;  // split_mode row: ggml's split type for matrices

    // Where layer il's weights go (il == n_layer: the output layer); nullptr for the CPU.
    ggml_backend_buffer_type_t buft(int il, bool is_matrix) const {
        ggml_backend_dev_t d = dev[size_t(il)];
        if (!d) return nullptr;
        return is_matrix && split_buft ? split_buft : ggml_backend_dev_buffer_type(d);
    }

    // The GPUs a load uses: the host's, then the devices of the RPC servers it names (m.remote), in their order.
    static std::vector<ggml_backend_dev_t> gpus_of(const model & m) {
        std::vector<ggml_backend_dev_t> gpus;
        for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
            ggml_backend_dev_t d = ggml_backend_dev_get(i);
            if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU && !rpc::is_remote(d)) {
                gpus.push_back(d);
            }
        }
        if (m.remote) {
            gpus.insert(gpus.end(), m.remote->devices.begin(), m.remote->devices.end());
        }
        return gpus;
    }

    static placement resolve(const bloom_model_params & params, const model & m) {
        const int n_layer = m.hp.n_layer;
        placement p;
        p.dev.assign(size_t(n_layer) + 1, nullptr);
        const std::vector<ggml_backend_dev_t> gpus = gpus_of(m);
        if (params.n_tensor_split < 0 || (params.n_tensor_split > 0 && !params.tensor_split)) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "tensor_split: %d entries%s", params.n_tensor_split,
                 params.n_tensor_split > 0 ? " but no array" : "");
        }
        if (params.tensor_split && size_t(params.n_tensor_split) > gpus.size()) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "tensor_split has %d proportions but the load uses %zu GPUs (the "
                 "host's, then those of its RPC servers)", params.n_tensor_split, gpus.size());
        }
        for (int32_t i = 0; params.tensor_split && i < params.n_tensor_split; ++i) {
            if (!(params.tensor_split[i] >= 0) || !std::isfinite(params.tensor_split[i])) {
                fail(BLOOM_ERR_INVALID_ARGUMENT, "tensor_split[%d] is %g: proportions are finite and >= 0", i,
                     double(params.tensor_split[i]));
            }
        }
        if (params.n_gpu_layers < -1) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "n_gpu_layers must be -1 (all), 0 (none) or a layer count, not %d",
                 params.n_gpu_layers);
        }
        if (params.split_mode != BLOOM_SPLIT_NONE && params.split_mode != BLOOM_SPLIT_ROW &&
            params.split_mode != BLOOM_SPLIT_LAYER) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "split_mode %d is not a bloom_split_mode (0 none, 1 row, 2 layer)",
                 params.split_mode);
        }
        if (params.n_gpu_layers == 0) {
            return p;
        }
        if (gpus.empty()) {
            // Say so where a GPU could have been expected: a library built with a GPU backend that found no device
            // (no GPU, or no driver), or an explicit request for layers on a GPU.
#ifdef BLOOM_GPU_BACKEND
            const bool gpu_backend = true;
#else
            const bool gpu_backend = false;
#endif
            if (gpu_backend || params.n_gpu_layers > 0) {
                BLOOM_LOG_WARN("model: no GPU found (%s): running on the CPU",
                               gpu_backend ? "the GPU backend reports no device; is the driver installed?"
                                           : "this library was built for the CPU only");
            }
            return p;
        }
        if (params.main_gpu < 0 || size_t(params.main_gpu) >= gpus.size()) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "main_gpu %d: there are %zu GPUs (0..%zu)", params.main_gpu, gpus.size(),
                 gpus.size() - 1);
        }
        p.gpu = gpus[size_t(params.main_gpu)];
        if (params.split_mode == BLOOM_SPLIT_ROW && gpus.size() > 1) {
            using split_buft_fn = ggml_backend_buffer_type_t (*)(int main_device, const float * tensor_split);
            auto fn = reinterpret_cast<split_buft_fn>(ggml_backend_reg_get_proc_address(
                ggml_backend_dev_backend_reg(p.gpu), "ggml_backend_split_buffer_type"));
            if (!fn) {
                fail(BLOOM_ERR_UNSUPPORTED, "split_mode row: the %s backend has no split buffer type",
                     ggml_backend_reg_name(ggml_backend_dev_backend_reg(p.gpu)));
            }
            p.split_buft = fn(params.main_gpu, nullptr);  // nullptr: in proportion to each GPU's memory
        }
        // The last n blocks go to a GPU, and the output layer too when n > n_layer: entries first.. of dev, in order
        // (the output layer, at n_layer, stays on the CPU for n <= n_layer).
        const int n = params.n_gpu_layers < 0 ? n_layer + 1 : params.n_gpu_layers;
        const int first = std::max(0, n_layer - n);
        const int n_units = n_layer - first + (n > n_layer ? 1 : 0);
        if (params.split_mode == BLOOM_SPLIT_LAYER && gpus.size() > 1) {
            const std::vector<int> counts = layer_counts(gpus, n_units, params, *m.remote_calls);
            int i = first;
            for (size_t g = 0; g < gpus.size(); ++g) {
                for (int c = 0; c < counts[g]; ++c) p.dev[size_t(i++)] = gpus[g];
            }
        } else {
            for (int i = first; i < first + n_units; ++i) p.dev[size_t(i)] = p.gpu;
        }
        return p;
    }

    // How many of n consecutive layers each GPU takes, in proportion to tensor_split or else to its free memory
    // (equal shares when no device reports any), as contiguous runs in device order.
    static std::vector<int> layer_counts(const std::vector<ggml_backend_dev_t> & gpus, int n,
                                         const bloom_model_params & params, rpc::executor & remote_calls) {
        std::vector<double> share;
        double total = 0;
        for (size_t g = 0; g < gpus.size(); ++g) {
            size_t free = 0, all = 0;
            if (params.tensor_split) {
                free = g < size_t(params.n_tensor_split) ? size_t(params.tensor_split[g] * 1e6) : 0;
            } else {
                remote_calls.run([&] { ggml_backend_dev_memory(gpus[g], &free, &all); });
            }
            share.push_back(double(free));
            total += double(free);
        }
        if (params.tensor_split && total == 0) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "tensor_split gives every GPU a share of 0");
        }
        std::vector<int> counts(gpus.size(), 0);
        double cum = 0;
        int given = 0;
        for (size_t g = 0; g < gpus.size(); ++g) {
            cum += total > 0 ? share[g] / total : 1.0 / double(gpus.size());
            const int upto = g + 1 == gpus.size() ? n : std::min(n, int(std::lround(cum * n)));
            counts[g] = std::max(0, upto - given);
            given += counts[g];
        }
        return counts;
    }
};

// Creates ggml tensors for tensor sources and binds them. Matrices stay in their stored type: on the CPU used in
// place from the file mapping, or repacked; on a GPU copied into its memory. Vectors (norms, biases) are converted
// to f32, which ggml's element-wise ops want.
class binder {
public:
    binder(model & m, const bloom_model_params & params, size_t n_expected)
        : m_(m), params_(params), n_expected_(n_expected), place_(placement::resolve(params, m)) {
        // A remote device's buffer type asks its server once (ggml keeps it): here, on the executor.
        for (ggml_backend_dev_t d : place_.dev) {
            if (d) m_.remote_calls->run([&] { ggml_backend_dev_buffer_type(d); });
        }
        m_.layer_dev.assign(place_.dev.begin(), place_.dev.end() - 1);
        m_.n_gpu_layers = int32_t(m_.layer_dev.size()) -
                          int32_t(std::count(m_.layer_dev.begin(), m_.layer_dev.end(), nullptr));
        m_.gpus.clear();
        for (ggml_backend_dev_t d : place_.dev) {
            if (d && std::find(m_.gpus.begin(), m_.gpus.end(), d) == m_.gpus.end()) m_.gpus.push_back(d);
        }
        // The main GPU, or with split_mode layer and few layers offloaded, the first that holds any.
        const bool main_used = std::find(m_.gpus.begin(), m_.gpus.end(), place_.gpu) != m_.gpus.end();
        m_.gpu = main_used ? place_.gpu : m_.gpus.empty() ? nullptr : m_.gpus.front();
    }

    // il: the layer the weight belongs to, -1 for the embeddings (always on the CPU: get_rows reads them),
    // n_layer for the output layer. product_only: the graph uses the matrix only as the weight of matrix products
    // (not the embedding table), so it may be repacked for the CPU's interleaved kernels. duplicate: a second copy
    // of a weight already declared (the tied output projection on a GPU), neither counted nor listed in stored.
    ggml_tensor * matrix(const std::string & gguf_name, const tensor_source & src, int il, bool product_only,
                         bool duplicate = false) {
        ggml_tensor * g = ggml_new_tensor_2d(m_.ctx_mapped, src.type, src.ne0, src.ne1);
        ggml_set_name(g, gguf_name.c_str());
        matrices_.push_back({g, src, il < 0 ? nullptr : place_.buft(il, true), product_only, false});
        if (!duplicate) {
            m_.stored.push_back({gguf_name, src.name, src.file_index, g});
            m_.n_params += src.ne0 * src.ne1;
            m_.n_weight_bytes += int64_t(src.n_bytes);
            progress();
        }
        return g;
    }

    ggml_tensor * vector(const std::string & gguf_name, const tensor_source & src, int il) {
        ggml_tensor * g = ggml_new_tensor_1d(m_.ctx_owned, GGML_TYPE_F32, src.ne0);
        ggml_set_name(g, gguf_name.c_str());
        vectors_.push_back({g, src, il < 0 ? nullptr : place_.buft(il, false), false, true});
        m_.stored.push_back({gguf_name, src.name, src.file_index, g});
        m_.n_params += src.ne0;
        m_.n_weight_bytes += src.ne0 * int64_t(sizeof(float));
        return g;
    }

    bool output_on_gpu() const { return place_.dev.back() != nullptr; }

    // Allocates and fills every tensor declared so far.
    void bind() {
        // Per destination buffer type, in declaration order. CPU matrices that ggml's CPU backend has interleaved
        // kernels for (Q4_0, Q4_K, IQ4_NL, ... as the CPU's features allow) go to its repack buffer, as llama.cpp
        // does by default; the other CPU matrices are used in place from the mapping.
        ggml_backend_buffer_type_t repack_buft = params_.repack ? cpu_repack_buffer_type() : nullptr;
        std::vector<ggml_backend_buffer_type_t> order;
        std::map<ggml_backend_buffer_type_t, std::vector<const declared *>> copied;
        std::vector<const declared *> in_place, cpu_owned;
        bool warned_misaligned = false;
        auto add = [&](ggml_backend_buffer_type_t buft, const declared & d) {
            if (!copied.count(buft)) order.push_back(buft);
            copied[buft].push_back(&d);
        };
        for (const declared & d : matrices_) {
            if (d.buft) {
                add(d.buft, d);  // a device copy: ggml copies the bytes, whatever their alignment
            } else if (!is_aligned(d.src.type, d.src.data)) {
                // Misaligned in its file: ggml's kernels (and the repacking) would read it with typed loads, which
                // is undefined behaviour; an aligned copy it is.
                if (!warned_misaligned) {
                    warned_misaligned = true;
                    BLOOM_LOG_WARN("model: tensor '%s' is not %zu-byte aligned in %s: misaligned matrices are copied "
                                   "to aligned memory", d.src.name.c_str(), required_alignment(d.src.type),
                                   d.src.file->path().c_str());
                }
                cpu_owned.push_back(&d);
            } else if (repack_buft && d.product_only && repackable(repack_buft, d.tensor)) {
                add(repack_buft, d);
            } else {
                in_place.push_back(&d);
            }
        }
        for (const declared & d : vectors_) {
            if (d.buft) {
                add(d.buft, d);
            } else {
                cpu_owned.push_back(&d);
            }
        }
        for (ggml_backend_buffer_type_t buft : order) {
            bind_copied(buft, copied[buft], buft == repack_buft);
        }
        for (ggml_backend_dev_t g : m_.gpus) {
            const int n = int(std::count(m_.layer_dev.begin(), m_.layer_dev.end(), g));
            BLOOM_LOG_INFO("model: %d of %d layers%s on %s (%s)", n, m_.hp.n_layer,
                           place_.dev.back() == g ? " and the output layer" : "", ggml_backend_dev_name(g),
                           ggml_backend_dev_description(g));
        }

        // In place: one CPU buffer over each file mapping.
        std::map<const mapped_file *, ggml_backend_buffer_t> file_buffers;
        for (const declared * d : in_place) {
            const mapped_file * f = d->src.file;
            if (file_buffers.count(f)) continue;
            ggml_backend_buffer_t b = ggml_backend_cpu_buffer_from_ptr(const_cast<uint8_t *>(f->data()), f->size());
            if (!b) {
                fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot wrap %s in a ggml buffer", f->path().c_str());
            }
            m_.buffers.push_back(b);
            file_buffers[f] = b;
        }
        for (const declared * d : in_place) {
            GGML_ASSERT(ggml_nbytes(d->tensor) == d->src.n_bytes);
            if (ggml_backend_tensor_alloc(file_buffers[d->src.file], d->tensor, const_cast<uint8_t *>(d->src.data)) !=
                GGML_STATUS_SUCCESS) {
                fail(BLOOM_ERR_INTERNAL, "cannot bind tensor '%s' to its file mapping", d->src.name.c_str());
            }
        }
        // CPU vectors and misaligned CPU matrices: one owned buffer.
        bind_copied(ggml_backend_cpu_buffer_type(), cpu_owned, false);
    }

private:
    struct declared {
        ggml_tensor *              tensor;
        tensor_source              src;
        ggml_backend_buffer_type_t buft;          // destination; nullptr: the CPU (in place, repacked or owned)
        bool                       product_only;
        bool                       is_vector;     // converted to f32 when copied
    };

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

    // Whether the CPU backend would run a product with w, placed in the repack buffer type, on a repacked kernel.
    static bool repackable(ggml_backend_buffer_type_t buft, ggml_tensor * w) {
        ggml_init_params ip = { 2 * ggml_tensor_overhead(), nullptr, true };
        ggml_context * ctx = ggml_init(ip);
        if (!ctx) return false;
        ggml_tensor * op = ggml_mul_mat(ctx, w, ggml_new_tensor_2d(ctx, GGML_TYPE_F32, w->ne[0], 512));
        const bool ok = supports_op_in(ggml_backend_buft_get_device(buft), buft, op, {w});
        ggml_free(ctx);
        return ok;
    }

    // Allocates one buffer of type buft for ts and copies each in: matrices as stored (the buffer type may repack
    // them on the way), vectors converted to f32. Repacked matrices' file pages are released after the copy, so
    // resident memory stays near the file's size.
    void bind_copied(ggml_backend_buffer_type_t buft, const std::vector<const declared *> & ts, bool repack) {
        // The ggml calls run on the executor (they reach the server for a remote device); progress stays here.
        rpc::executor & calls = *m_.remote_calls;
        size_t align = 0, total = 0;
        uint8_t * base = nullptr;
        ggml_backend_buffer_t buf = nullptr;
        calls.run([&] {
            align = ggml_backend_buft_get_alignment(buft);
            for (const declared * d : ts) {
                total += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, d->tensor), align);
            }
            buf = ggml_backend_buft_alloc_buffer(buft, std::max<size_t>(total, 1));
            if (!buf) {
                fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate %.1f MiB of %s memory for weights", total / 1048576.0,
                     ggml_backend_buft_name(buft));
            }
            ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
            m_.buffers.push_back(buf);
            base = static_cast<uint8_t *>(ggml_backend_buffer_get_base(buf));
        });
        size_t offset = 0;
        std::vector<float> tmp;
        for (const declared * d : ts) {
            calls.run([&] {
                if (ggml_backend_tensor_alloc(buf, d->tensor, base + offset) != GGML_STATUS_SUCCESS) {
                    fail(BLOOM_ERR_INTERNAL, "cannot place tensor '%s' in a %s buffer", d->src.name.c_str(),
                         ggml_backend_buft_name(buft));
                }
                offset += GGML_PAD(ggml_backend_buft_get_alloc_size(buft, d->tensor), align);
                if (d->is_vector) {
                    tmp.resize(size_t(d->src.ne0));
                    tensor_to_f32(d->src.type, d->src.data, tmp.data(), d->src.ne0);
                    ggml_backend_tensor_set(d->tensor, tmp.data(), 0, tmp.size() * sizeof(float));
                } else {
                    GGML_ASSERT(ggml_nbytes(d->tensor) == d->src.n_bytes);
                    ggml_backend_tensor_set(d->tensor, d->src.data, 0, d->src.n_bytes);
                }
            });
            if (d->is_vector) {
                progress();
            } else if (repack || !ggml_backend_buft_is_host(buft)) {
                d->src.file->release(d->src.data, d->src.n_bytes);
            }
        }
        if (repack) {
            m_.n_repacked = int32_t(ts.size());
            BLOOM_LOG_INFO("model: %zu weight matrices repacked for the CPU's interleaved kernels (%.1f MiB)",
                           ts.size(), total / 1048576.0);
        }
    }

    void progress() {
        ++n_done_;
        if (params_.progress_callback &&
            !params_.progress_callback(float(n_done_) / float(n_expected_), params_.progress_user_data)) {
            fail(BLOOM_ERR_CANCELLED, "loading was cancelled by the progress callback");
        }
    }

    model &                    m_;
    const bloom_model_params & params_;
    size_t                     n_expected_;
    size_t                     n_done_ = 0;
    placement                  place_;
    std::vector<declared>      matrices_;
    std::vector<declared>      vectors_;
};

// The tensor table, the same for every format: which weights BLOOM has, their shapes, and what the graph calls them.
void fill_table(model & m, weight_finder & f, binder & b) {
    const hparams & hp = m.hp;
    const int64_t E = hp.n_embd, V = hp.n_vocab;
    int il = -1;  // the layer being declared: -1 the embeddings, n_layer the output layer
    auto mat = [&](const std::string & gn, const std::string & hn, int64_t ne0, int64_t ne1) {
        return b.matrix(gn, *f.find(gn, hn, ne0, ne1, true, true), il, true);
    };
    auto vec = [&](const std::string & gn, const std::string & hn, int64_t n) {
        return b.vector(gn, *f.find(gn, hn, n, 1, false, true), il);
    };
    // The embedding table stays on the CPU and in place: ggml_get_rows reads it (and the output projection when
    // tied and not on a GPU).
    const tensor_source embd = *f.find("token_embd.weight", "word_embeddings.weight", E, V, true, true);
    m.tok_embd   = b.matrix("token_embd.weight", embd, -1, false);
    m.tok_norm   = vec("token_embd_norm.weight", "word_embeddings_layernorm.weight", E);
    m.tok_norm_b = vec("token_embd_norm.bias", "word_embeddings_layernorm.bias", E);
    m.layers.resize(size_t(hp.n_layer));
    for (il = 0; il < hp.n_layer; ++il) {
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
    il = hp.n_layer;
    m.output_norm   = vec("output_norm.weight", "ln_f.weight", E);
    m.output_norm_b = vec("output_norm.bias", "ln_f.bias", E);
    // The output projection is tied to the embedding unless the file carries its own; tied and on a GPU, the GPU
    // gets a copy of the embedding table (llama.cpp does the same).
    const std::optional<tensor_source> out = f.find("output.weight", "lm_head.weight", E, V, true, false);
    if (out) {
        m.output = b.matrix("output.weight", *out, il, true);
    } else if (b.output_on_gpu()) {
        m.output = b.matrix("output.weight (tied)", embd, il, true, true);
    } else {
        m.output = m.tok_embd;
    }
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
    ggml_init_params ip = { ggml_tensor_overhead() * (n_tensors + 2), nullptr, true };  // + a GPU copy of a tied output
    ggml_context * ctx = ggml_init(ip);
    if (!ctx) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate tensor metadata");
    }
    return ctx;
}

} // namespace

namespace {

// Connects to the RPC servers the params name (bloom-rpc.h); the executor runs calls directly without them.
void connect_remote(model & m, const bloom_model_params & params) {
    if (params.rpc_servers && params.rpc_servers_len > 0) {
        if (params.split_mode == BLOOM_SPLIT_ROW) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "split_mode row splits matrices over the GPUs of one host; with RPC "
                 "servers use split_mode layer");
        }
        const auto endpoints = rpc::parse_endpoints(std::string_view(params.rpc_servers, params.rpc_servers_len));
        m.remote = rpc::connect(endpoints, params.rpc_timeout_ms);
    }
    m.remote_calls = std::make_unique<rpc::executor>(m.remote);
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
    connect_remote(*m, params);
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
    connect_remote(*m, params);
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
