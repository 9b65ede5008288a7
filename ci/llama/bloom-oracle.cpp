// bloom-oracle: asks llama.cpp (through its public C API, llama.h) what it makes of a GGUF file, and prints the
// answer as one JSON object on stdout, so that bloom4j's tests can compare against llama.cpp's own BLOOM
// implementation on the same file. Built by ci/llama/build.sh against the pinned llama.cpp tree.
//
//   bloom-oracle MODEL.gguf info
//   bloom-oracle MODEL.gguf tokenize (--text T | --text-file F)
//   bloom-oracle MODEL.gguf logits   --ids 1,2,3
//   bloom-oracle MODEL.gguf greedy   --ids 1,2,3 --n N
//
// Options for every command: --threads N (default 1), --kv f32|f16 (KV-cache type, default f32),
// --gelu ggml|f32 (default ggml), --no-repack, --batch N (default: the whole prompt in one batch), --flash-attn.
//
// Choices that matter for a fair comparison:
//   - tokenize: add_special=false (no BOS/EOS added, like bloom4j's tokenize) and parse_special=true (special
//     tokens in the text are matched as tokens, as Hugging Face tokenizers do).
//   - logits/greedy: the KV cache is f32 unless --kv f16 (llama.cpp's default is f16, which rounds K and V to
//     half precision), flash attention is off unless --flash-attn, and the whole prompt is one batch unless
//     --batch N cuts it into micro-batches of N tokens, so that a comparison can run the same graphs as the other
//     program does (bloom4j: f32 cache for f32 weights, f16 otherwise, flash attention on up to 2049 positions).
//   - greedy: argmax of the logits, ties to the lowest id, one token per decode (it exercises the KV cache);
//     it never stops at end-of-sequence, so the caller compares exactly N ids.
//   - --gelu f32: ggml's CPU GELU is approximate (it rounds its input to f16 and looks the answer up in an f16
//     table, GGML_GELU_FP16 in ggml-cpu/vec.h: ~5e-4 relative error per activation), while Hugging Face and bloom4j
//     evaluate BLOOM's tanh formula in f32. With this option every GELU node's output is recomputed with that
//     formula through llama.cpp's public graph-evaluation callback (cb_eval) before any later node reads it, so
//     everything else (weights layout, ALiBi, attention, norms, matrix products) is still llama.cpp's own. The
//     formula is evaluated in f32 with the same operations, in the same order and with the same fused
//     multiply-adds as ggml evaluates bloom4j's composition of it, x * sigmoid(2u) for 0.5 * (1 + tanh(u)) (sqr,
//     scale+bias, mul, sigmoid, mul), so the result is bit-identical to bloom4j's: the two programs' activations then agree to
//     the last bit wherever their other arithmetic does, which matters with f16 and quantized weights, whose
//     products first round the activations (to f16, or to 8-bit blocks) and would turn a last-bit difference
//     into a whole rounding step now and then. The JSON carries "gelu_replaced": the number of GELU nodes
//     rewritten, so a caller can tell it took effect.
//   - --no-repack: llama.cpp normally repacks Q4_0, Q4_K, IQ4_NL (and more, by CPU) weights at load time into
//     interleaved layouts with their own matrix kernels ("extra buffer types", CPU_REPACK). Those kernels sum in
//     another order than ggml's plain dot products; with quantized weights the activations are rounded to 8-bit
//     blocks before every product, which turns such float-order noise into whole rounding steps (~1/127 of a
//     block's largest value), so logits then differ by ~1e-2 of their range from an implementation that uses the
//     plain kernels. This option keeps the weights as stored (llama_model_params.use_extra_bufts = false).
//
// Errors: a message on stderr and exit status 1 (bad usage 2). Nothing of llama.cpp's log reaches stdout.

#include "ggml-backend.h"
#include "llama.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct options {
    std::string model_path;
    std::string command;
    std::string text;
    bool have_text = false;
    std::vector<llama_token> ids;
    bool have_ids = false;
    int n_predict = -1;
    int n_threads = 1;
    ggml_type kv_type = GGML_TYPE_F32;
    bool f32_gelu = false;
    bool repack = true;
    bool flash_attn = false;
    int n_batch = 0;  // 0: the whole prompt
    bool verbose = false;
};

// State of the --gelu f32 graph callback for one context.
struct gelu_rewriter {
    std::vector<float> input;  // the GELU node's input, copied before the node runs (it may run in place)
    long replaced = 0;
    std::string error;         // set when a GELU node cannot be rewritten; the decode is then cancelled
};

bool is_gelu(const ggml_tensor * t) {
    return t->op == GGML_OP_UNARY && ggml_get_unary_op(t) == GGML_UNARY_OP_GELU;
}

// The scheduler asks about every node before computing it; answering "yes" for all of them makes it compute one
// node at a time, so when it asks about a GELU node its input has been computed and is still intact.
bool f32_gelu_callback(ggml_tensor * t, bool ask, void * user_data) {
    auto & state = *static_cast<gelu_rewriter *>(user_data);
    if (!is_gelu(t)) {
        return true;
    }
    const ggml_tensor * src = t->src[0];
    const int64_t n = ggml_nelements(t);
    if (ask) {
        if (t->type != GGML_TYPE_F32 || src->type != GGML_TYPE_F32 || !ggml_is_contiguous(t) ||
            !ggml_is_contiguous(src) || ggml_nelements(src) != n || !t->buffer || !src->buffer ||
            !ggml_backend_buffer_is_host(t->buffer) || !ggml_backend_buffer_is_host(src->buffer)) {
            state.error = std::string("cannot rewrite GELU node ") + ggml_get_name(t) +
                          ": not a contiguous f32 tensor in host memory";
            return true;
        }
        state.input.assign(static_cast<const float *>(src->data), static_cast<const float *>(src->data) + n);
        return true;
    }
    if (!state.error.empty()) {
        return false;
    }
    // BLOOM's GELU, x * 0.5 * (1 + tanh(u)) with u = 0.79788456 * x * (1 + 0.044715 * x^2), as x * sigmoid(2u),
    // one rounding per ggml op.
    constexpr double two_c = 2.0 * 0.7978845608028654;
    const float scale = float(two_c * 0.044715), bias = float(two_c);
    float * out = static_cast<float *>(t->data);
    for (int64_t i = 0; i < n; ++i) {
        const float x = state.input[i];
        const float x2 = x * x;                                // ggml_sqr
        const float poly = std::fma(x2, scale, bias);          // ggml_scale_bias: one FMA in ggml's SIMD loop
        const float sig = 1.0f / (1.0f + std::exp(-(poly * x))); // ggml_mul, ggml_sigmoid (expf)
        out[i] = x * sig;                                      // ggml_mul
    }
    ++state.replaced;
    return true;
}

// llama.cpp logs a lot at load time; keep warnings and errors (they explain a failed load) and drop the rest.
void log_callback(ggml_log_level level, const char * text, void * user_data) {
    const bool verbose = *static_cast<const bool *>(user_data);
    if (verbose || level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        std::fputs(text, stderr);
    }
}

std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    }
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

int parse_int(const std::string & s, const char * what) {
    char * end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX) {
        throw usage_error(std::string(what) + ": not an integer: '" + s + "'");
    }
    return static_cast<int>(v);
}

std::vector<llama_token> parse_ids(const std::string & list) {
    std::vector<llama_token> ids;
    std::size_t start = 0;
    while (start <= list.size()) {
        const std::size_t comma = list.find(',', start);
        const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        ids.push_back(parse_int(item, "--ids"));
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return ids;
}

options parse_args(int argc, char ** argv) {
    if (argc < 3) {
        throw usage_error("need MODEL.gguf and a command (info, tokenize, logits, greedy)");
    }
    options o;
    o.model_path = argv[1];
    o.command = argv[2];
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw usage_error(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--text") {
            o.text = value();
            o.have_text = true;
        } else if (arg == "--text-file") {
            o.text = read_file(value());
            o.have_text = true;
        } else if (arg == "--ids") {
            o.ids = parse_ids(value());
            o.have_ids = true;
        } else if (arg == "--n") {
            o.n_predict = parse_int(value(), "--n");
        } else if (arg == "--threads") {
            o.n_threads = parse_int(value(), "--threads");
        } else if (arg == "--kv") {
            const std::string kv = value();
            if (kv == "f32") {
                o.kv_type = GGML_TYPE_F32;
            } else if (kv == "f16") {
                o.kv_type = GGML_TYPE_F16;
            } else {
                throw usage_error("--kv must be f32 or f16, not '" + kv + "'");
            }
        } else if (arg == "--gelu") {
            const std::string gelu = value();
            if (gelu != "ggml" && gelu != "f32") {
                throw usage_error("--gelu must be ggml or f32, not '" + gelu + "'");
            }
            o.f32_gelu = gelu == "f32";
        } else if (arg == "--batch") {
            o.n_batch = parse_int(value(), "--batch");
        } else if (arg == "--no-repack") {
            o.repack = false;
        } else if (arg == "--flash-attn") {
            o.flash_attn = true;
        } else if (arg == "--verbose") {
            o.verbose = true;
        } else {
            throw usage_error("unknown option '" + arg + "'");
        }
    }
    if (o.command == "tokenize" && !o.have_text) {
        throw usage_error("tokenize needs --text or --text-file");
    }
    if ((o.command == "logits" || o.command == "greedy") && (!o.have_ids || o.ids.empty())) {
        throw usage_error(o.command + " needs --ids with at least one id");
    }
    if (o.command == "greedy" && o.n_predict < 0) {
        throw usage_error("greedy needs --n >= 0");
    }
    if (o.n_threads < 1) {
        throw usage_error("--threads must be >= 1");
    }
    if (o.n_batch < 0) {
        throw usage_error("--batch must be >= 1 (or 0: the whole prompt at once)");
    }
    return o;
}

// Owning wrappers, so that every exit path frees what llama.cpp allocated.
struct model_handle {
    llama_model * ptr = nullptr;
    ~model_handle() { llama_model_free(ptr); }
};
struct context_handle {
    llama_context * ptr = nullptr;
    ~context_handle() { llama_free(ptr); }
};
struct batch_handle {
    llama_batch batch;
    explicit batch_handle(int32_t n) : batch(llama_batch_init(n, 0, 1)) {}
    ~batch_handle() { llama_batch_free(batch); }
};

void print_ids(const std::vector<llama_token> & ids) {
    std::fputc('[', stdout);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        std::printf(i ? ",%d" : "%d", ids[i]);
    }
    std::fputc(']', stdout);
}

// JSON string escaping for the few strings we print (model description, token pieces are not printed).
std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

void check_ids(const std::vector<llama_token> & ids, int32_t n_vocab) {
    for (llama_token id : ids) {
        if (id < 0 || id >= n_vocab) {
            throw usage_error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(n_vocab) + ")");
        }
    }
}

context_handle make_context(llama_model * model, const options & o, uint32_t n_tokens, gelu_rewriter * gelu) {
    llama_context_params cp = llama_context_default_params();
    // llama.cpp rounds the context up to a multiple of 256; n_batch = n_ubatch = n_ctx makes the prompt one
    // micro-batch, as bloom4j evaluates it.
    cp.n_ctx = n_tokens < 256 ? 256 : n_tokens;
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = o.n_batch > 0 ? static_cast<uint32_t>(o.n_batch) : cp.n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = o.n_threads;
    cp.n_threads_batch = o.n_threads;
    cp.type_k = o.kv_type;
    cp.type_v = o.kv_type;
    cp.flash_attn_type = o.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    if (o.f32_gelu) {
        cp.cb_eval = f32_gelu_callback;
        cp.cb_eval_user_data = gelu;
    }
    context_handle ctx;
    ctx.ptr = llama_init_from_model(model, cp);
    if (!ctx.ptr) {
        throw std::runtime_error("llama_init_from_model failed");
    }
    return ctx;
}

// Decodes `ids` at positions [pos0, pos0 + n), asking for logits at every position or only the last.
void decode(llama_context * ctx, const std::vector<llama_token> & ids, int32_t pos0, bool all_logits,
            const gelu_rewriter & gelu) {
    batch_handle b(static_cast<int32_t>(ids.size()));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        b.batch.token[i] = ids[i];
        b.batch.pos[i] = pos0 + static_cast<int32_t>(i);
        b.batch.n_seq_id[i] = 1;
        b.batch.seq_id[i][0] = 0;
        b.batch.logits[i] = all_logits || i + 1 == ids.size();
    }
    b.batch.n_tokens = static_cast<int32_t>(ids.size());
    const int32_t rc = llama_decode(ctx, b.batch);
    if (!gelu.error.empty()) {
        throw std::runtime_error(gelu.error);
    }
    if (rc != 0) {
        throw std::runtime_error("llama_decode failed with status " + std::to_string(rc));
    }
}

llama_token argmax(const float * logits, int32_t n_vocab) {
    llama_token best = 0;
    for (int32_t j = 1; j < n_vocab; ++j) {
        if (logits[j] > logits[best]) {
            best = j;
        }
    }
    return best;
}

// Opens the JSON object; with --gelu f32 its first member says how many GELU nodes were rewritten.
void print_gelu(const options & o, const gelu_rewriter & gelu) {
    if (o.f32_gelu) {
        std::printf("{\"gelu_replaced\":%ld,", gelu.replaced);
    } else {
        std::fputc('{', stdout);
    }
}

int cmd_info(llama_model * model) {
    const llama_vocab * vocab = llama_model_get_vocab(model);
    char desc[256];
    llama_model_desc(model, desc, sizeof desc);
    char pre[128] = "";
    llama_model_meta_val_str(model, "tokenizer.ggml.pre", pre, sizeof pre);
    std::printf("{\"desc\":%s,\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_embd\":%d,\"n_layer\":%d,\"n_head\":%d,"
                "\"n_params\":%llu,\"vocab_type\":%d,\"pre\":%s,\"bos\":%d,\"eos\":%d,\"add_bos\":%s,"
                "\"add_eos\":%s}\n",
                json_string(desc).c_str(), llama_vocab_n_tokens(vocab), llama_model_n_ctx_train(model),
                llama_model_n_embd(model), llama_model_n_layer(model), llama_model_n_head(model),
                static_cast<unsigned long long>(llama_model_n_params(model)),
                static_cast<int>(llama_vocab_type(vocab)), json_string(pre).c_str(), llama_vocab_bos(vocab),
                llama_vocab_eos(vocab), llama_vocab_get_add_bos(vocab) ? "true" : "false",
                llama_vocab_get_add_eos(vocab) ? "true" : "false");
    return 0;
}

int cmd_tokenize(llama_model * model, const options & o) {
    const llama_vocab * vocab = llama_model_get_vocab(model);
    if (o.text.size() > INT32_MAX) {
        throw usage_error("text too long");
    }
    const int32_t len = static_cast<int32_t>(o.text.size());
    std::vector<llama_token> ids(o.text.size() + 1);
    int32_t n = llama_tokenize(vocab, o.text.data(), len, ids.data(), static_cast<int32_t>(ids.size()), false, true);
    if (n < 0 && n != INT32_MIN) {
        ids.resize(static_cast<std::size_t>(-n));
        n = llama_tokenize(vocab, o.text.data(), len, ids.data(), static_cast<int32_t>(ids.size()), false, true);
    }
    if (n < 0) {
        throw std::runtime_error("llama_tokenize failed (" + std::to_string(n) + ")");
    }
    ids.resize(static_cast<std::size_t>(n));
    std::fputs("{\"ids\":", stdout);
    print_ids(ids);
    std::fputs("}\n", stdout);
    return 0;
}

int cmd_logits(llama_model * model, const options & o) {
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    check_ids(o.ids, n_vocab);
    gelu_rewriter gelu;
    context_handle ctx = make_context(model, o, static_cast<uint32_t>(o.ids.size()), &gelu);
    decode(ctx.ptr, o.ids, 0, true, gelu);
    print_gelu(o, gelu);
    std::printf("\"n_vocab\":%d,\"ids\":", n_vocab);
    print_ids(o.ids);
    std::fputs(",\"logits\":[", stdout);
    for (std::size_t i = 0; i < o.ids.size(); ++i) {
        const float * row = llama_get_logits_ith(ctx.ptr, static_cast<int32_t>(i));
        if (!row) {
            throw std::runtime_error("no logits for position " + std::to_string(i));
        }
        std::fputs(i ? ",[" : "[", stdout);
        for (int32_t j = 0; j < n_vocab; ++j) {
            // %.9g round-trips every float exactly.
            std::printf(j ? ",%.9g" : "%.9g", static_cast<double>(row[j]));
        }
        std::fputc(']', stdout);
    }
    std::fputs("]}\n", stdout);
    return 0;
}

int cmd_greedy(llama_model * model, const options & o) {
    const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    check_ids(o.ids, n_vocab);
    gelu_rewriter gelu;
    context_handle ctx = make_context(model, o, static_cast<uint32_t>(o.ids.size() + o.n_predict), &gelu);
    std::vector<llama_token> out;
    if (o.n_predict > 0) {
        decode(ctx.ptr, o.ids, 0, false, gelu);
        int32_t pos = static_cast<int32_t>(o.ids.size());
        for (int k = 0; k < o.n_predict; ++k) {
            const llama_token next = argmax(llama_get_logits_ith(ctx.ptr, -1), n_vocab);
            out.push_back(next);
            if (k + 1 < o.n_predict) {
                decode(ctx.ptr, {next}, pos++, false, gelu);
            }
        }
    }
    print_gelu(o, gelu);
    std::fputs("\"prompt\":", stdout);
    print_ids(o.ids);
    std::fputs(",\"ids\":", stdout);
    print_ids(out);
    std::fputs("}\n", stdout);
    return 0;
}

int run(const options & o) {
    if (o.command != "info" && o.command != "tokenize" && o.command != "logits" && o.command != "greedy") {
        throw usage_error("unknown command '" + o.command + "' (info, tokenize, logits, greedy)");
    }
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = o.repack;
    model_handle model;
    model.ptr = llama_model_load_from_file(o.model_path.c_str(), mp);
    if (!model.ptr) {
        throw std::runtime_error("llama.cpp could not load " + o.model_path + " (its log above says why)");
    }
    int rc;
    if (o.command == "info") {
        rc = cmd_info(model.ptr);
    } else if (o.command == "tokenize") {
        rc = cmd_tokenize(model.ptr, o);
    } else if (o.command == "logits") {
        rc = cmd_logits(model.ptr, o);
    } else {
        rc = cmd_greedy(model.ptr, o);
    }
    std::fflush(stdout);
    return rc;
}

}  // namespace

int main(int argc, char ** argv) {
    static bool verbose = false;
    try {
        const options o = parse_args(argc, argv);
        verbose = o.verbose;
        llama_log_set(log_callback, &verbose);
        const int rc = run(o);
        llama_backend_free();
        return rc;
    } catch (const usage_error & e) {
        std::fprintf(stderr, "bloom-oracle: %s\nusage: bloom-oracle MODEL.gguf info|tokenize|logits|greedy "
                             "[--text T | --text-file F] [--ids 1,2,3] [--n N] [--threads N] [--kv f32|f16] "
                             "[--gelu ggml|f32] [--no-repack] [--batch N] [--flash-attn] [--verbose]\n", e.what());
        return 2;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "bloom-oracle: %s\n", e.what());
        return 1;
    }
}
