#include "bloom-gguf.h"

#include "bloom-error.h"
#include "bloom-log.h"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace bloom {

namespace {

std::string base_name(const std::string & path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// ggml's gguf parser reports why it rejects a file only through ggml's logger. While this thread parses, its error
// lines are collected here (and not logged: they become the error message instead). The forwarding callback is
// installed once, over bloom's own ggml sink, and stays: on other threads it only forwards.
thread_local std::string * t_ggml_errors = nullptr;
ggml_log_callback          g_next_log    = nullptr;
void *                     g_next_log_ud = nullptr;

void capturing_log(ggml_log_level level, const char * text, void * user_data) {
    if (t_ggml_errors && (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_CONT) && text) {
        *t_ggml_errors += text;
        return;
    }
    if (g_next_log) {
        g_next_log(level, text, g_next_log_ud);
    }
}

void install_capturing_log() {
    static std::once_flag once;
    std::call_once(once, [] {
        log_install_ggml();
        ggml_log_get(&g_next_log, &g_next_log_ud);
        ggml_log_set(capturing_log, nullptr);
    });
}

// ggml's lines carry "gguf_init_from_reader: " prefixes and newlines; one line of text reads better in an error.
std::string tidy(std::string s) {
    std::string out;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t end = s.find('\n', pos);
        if (end == std::string::npos) end = s.size();
        std::string line = s.substr(pos, end - pos);
        if (const size_t colon = line.find(": "); colon != std::string::npos && line.compare(0, 5, "gguf_") == 0) {
            line = line.substr(colon + 2);
        }
        if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
        pos = end + 1;
    }
    return out;
}

bool is_integer(gguf_type t) {
    switch (t) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
        case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
            return true;
        default:
            return false;
    }
}

// Element i of an integer scalar (data = gguf_get_val_data) or array (gguf_get_arr_data), widened.
bool read_integer(gguf_type t, const void * data, size_t i, int64_t & out) {
    switch (t) {
        case GGUF_TYPE_UINT8:  out = static_cast<const uint8_t  *>(data)[i]; return true;
        case GGUF_TYPE_INT8:   out = static_cast<const int8_t   *>(data)[i]; return true;
        case GGUF_TYPE_UINT16: out = static_cast<const uint16_t *>(data)[i]; return true;
        case GGUF_TYPE_INT16:  out = static_cast<const int16_t  *>(data)[i]; return true;
        case GGUF_TYPE_UINT32: out = static_cast<const uint32_t *>(data)[i]; return true;
        case GGUF_TYPE_INT32:  out = static_cast<const int32_t  *>(data)[i]; return true;
        case GGUF_TYPE_INT64:  out = static_cast<const int64_t  *>(data)[i]; return true;
        case GGUF_TYPE_UINT64: {
            const uint64_t u = static_cast<const uint64_t *>(data)[i];
            out = u > uint64_t(INT64_MAX) ? -1 : int64_t(u);  // larger than any limit we check against
            return u <= uint64_t(INT64_MAX);
        }
        default: return false;
    }
}

} // namespace

// ------------------------------------------------------------------------------------------------------- reading

std::unique_ptr<gguf_file> gguf_file::open(const std::string & path, bool use_mmap) {
    auto f = std::unique_ptr<gguf_file>(new gguf_file());
    f->name_ = base_name(path);
    f->file_ = std::make_unique<mapped_file>(path, use_mmap);
    const mapped_file & m = *f->file_;
    if (m.size() < 4 || std::memcmp(m.data(), "GGUF", 4) != 0) {
        fail(BLOOM_ERR_FORMAT, "%s is not a GGUF file (it does not start with \"GGUF\")", f->name_.c_str());
    }

    install_capturing_log();
    std::string errors;
    t_ggml_errors = &errors;
    gguf_init_params ip = { /*no_alloc =*/ true, /*ctx =*/ nullptr };
    f->ctx_ = gguf_init_from_buffer(m.data(), m.size(), ip);
    t_ggml_errors = nullptr;
    if (!f->ctx_) {
        fail(BLOOM_ERR_FORMAT, "%s is truncated or corrupt: %s", f->name_.c_str(),
             errors.empty() ? "ggml's GGUF parser rejected it" : tidy(errors).c_str());
    }

    // Keys are counted strings in the file but NUL-terminated in ggml's API: a key with a NUL byte inside reads back
    // cut short, as "" when the NUL comes first, and ggml's setters abort on an empty key (gguf_set_kv, when
    // converting). A key cut short into another key's name is as corrupt.
    for (int64_t i = 0; i < gguf_get_n_kv(f->ctx_); ++i) {
        const char * key = gguf_get_key(f->ctx_, i);
        if (key[0] == '\0' || gguf_find_key(f->ctx_, key) != i) {
            fail(BLOOM_ERR_FORMAT, "%s is corrupt: key %lld (\"%s\") has a NUL byte in its name", f->name_.c_str(),
                 (long long) i, key);
        }
    }

    // ggml has checked that every tensor's shape and type are valid and that the offsets are contiguous, but without
    // reading the data it has not checked them against the file: a file cut short inside the data is caught here.
    const uint64_t data_start = gguf_get_data_offset(f->ctx_);
    const int64_t n = gguf_get_n_tensors(f->ctx_);
    f->tensors_.reserve(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        gguf_tensor t;
        t.name = gguf_get_tensor_name(f->ctx_, i);
        t.type = gguf_get_tensor_type(f->ctx_, i);
        const int64_t * ne = gguf_get_tensor_ne(f->ctx_, i);
        t.n_dims = 1;
        for (int d = 0; d < GGML_MAX_DIMS; ++d) {
            t.ne[d] = ne[d];
            if (ne[d] != 1) t.n_dims = d + 1;
        }
        // The byte size from the shape, with overflow checks of our own: ggml's element count can wrap around.
        uint64_t n_rows = 1, size = 0;
        bool overflow = false;
        for (int d = 1; d < GGML_MAX_DIMS; ++d) overflow |= __builtin_mul_overflow(n_rows, uint64_t(ne[d]), &n_rows);
        overflow |= __builtin_mul_overflow(n_rows, uint64_t(ggml_row_size(t.type, ne[0])), &size);
        overflow |= ne[0] > (int64_t(1) << 48);  // ggml_row_size itself multiplies
        if (overflow || size != gguf_get_tensor_size(f->ctx_, i)) {
            fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has an absurd shape [%lld, %lld, %lld, %lld]", f->name_.c_str(),
                 t.name.c_str(), (long long) ne[0], (long long) ne[1], (long long) ne[2], (long long) ne[3]);
        }
        const uint64_t off = gguf_get_tensor_offset(f->ctx_, i);
        if (data_start > m.size() || off > m.size() - data_start || size > m.size() - data_start - off) {
            fail(BLOOM_ERR_FORMAT, "%s is truncated: tensor '%s' needs bytes [%llu, %llu) but the file has %zu",
                 f->name_.c_str(), t.name.c_str(), (unsigned long long) (data_start + off),
                 (unsigned long long) (data_start + off) + (unsigned long long) size, m.size());
        }
        t.data    = m.data() + data_start + off;
        t.n_bytes = size_t(size);
        f->tensors_.push_back(std::move(t));
    }
    return f;
}

gguf_file::~gguf_file() {
    if (ctx_) {
        gguf_free(ctx_);
    }
}

const gguf_tensor * gguf_file::find_tensor(const std::string & name) const {
    for (const gguf_tensor & t : tensors_) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

int64_t gguf_file::key_id(const char * key, bool required) const {
    const int64_t id = gguf_find_key(ctx_, key);
    if (id < 0 && required) {
        fail(BLOOM_ERR_FORMAT, "%s lacks the key %s", name_.c_str(), key);
    }
    return id;
}

bool gguf_file::has(const char * key) const { return gguf_find_key(ctx_, key) >= 0; }

std::string gguf_file::get_string(const char * key) const {
    const int64_t id = key_id(key, true);
    if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_STRING) {
        fail(BLOOM_ERR_FORMAT, "%s: key %s is a %s, not a string", name_.c_str(), key,
             gguf_type_name(gguf_get_kv_type(ctx_, id)));
    }
    return gguf_get_val_str(ctx_, id);
}

std::optional<uint64_t> gguf_file::get_uint(const char * key, uint64_t max) const {
    const int64_t id = key_id(key, false);
    if (id < 0) return std::nullopt;
    const gguf_type t = gguf_get_kv_type(ctx_, id);
    int64_t v = -1;
    if (!is_integer(t)) {
        fail(BLOOM_ERR_FORMAT, "%s: key %s is a %s, not an integer", name_.c_str(), key, gguf_type_name(t));
    }
    read_integer(t, gguf_get_val_data(ctx_, id), 0, v);
    if (v < 0 || uint64_t(v) > max) {
        fail(BLOOM_ERR_FORMAT, "%s: key %s is %lld, outside [0, %llu]", name_.c_str(), key, (long long) v,
             (unsigned long long) max);
    }
    return uint64_t(v);
}

std::vector<uint64_t> gguf_file::get_uint_or_array(const char * key, uint64_t max) const {
    const int64_t id = key_id(key, false);
    if (id < 0) return {};
    if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_ARRAY) {
        return {*get_uint(key, max)};
    }
    const std::vector<int64_t> a = get_int_array(key);
    std::vector<uint64_t> out;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] < 0 || uint64_t(a[i]) > max) {
            fail(BLOOM_ERR_FORMAT, "%s: key %s[%zu] is %lld, outside [0, %llu]", name_.c_str(), key, i,
                 (long long) a[i], (unsigned long long) max);
        }
        out.push_back(uint64_t(a[i]));
    }
    return out;
}

float gguf_file::get_float(const char * key) const {
    const int64_t id = key_id(key, true);
    switch (gguf_get_kv_type(ctx_, id)) {
        case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(ctx_, id);
        case GGUF_TYPE_FLOAT64: return float(gguf_get_val_f64(ctx_, id));
        default:
            fail(BLOOM_ERR_FORMAT, "%s: key %s is a %s, not a float", name_.c_str(), key,
                 gguf_type_name(gguf_get_kv_type(ctx_, id)));
    }
}

std::vector<std::string> gguf_file::get_string_array(const char * key) const {
    const int64_t id = key_id(key, true);
    if (gguf_get_kv_type(ctx_, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx_, id) != GGUF_TYPE_STRING) {
        fail(BLOOM_ERR_FORMAT, "%s: key %s is not an array of strings", name_.c_str(), key);
    }
    const size_t n = gguf_get_arr_n(ctx_, id);
    std::vector<std::string> out(n);
    for (size_t i = 0; i < n; ++i) {
        out[i] = gguf_get_arr_str(ctx_, id, i);
    }
    return out;
}

std::vector<int64_t> gguf_file::get_int_array(const char * key) const {
    const int64_t id = key_id(key, true);
    const gguf_type t = gguf_get_kv_type(ctx_, id) == GGUF_TYPE_ARRAY ? gguf_get_arr_type(ctx_, id) : GGUF_TYPE_COUNT;
    if (!is_integer(t)) {
        fail(BLOOM_ERR_FORMAT, "%s: key %s is not an array of integers", name_.c_str(), key);
    }
    const size_t n = gguf_get_arr_n(ctx_, id);
    std::vector<int64_t> out(n);
    const void * data = n ? gguf_get_arr_data(ctx_, id) : nullptr;
    for (size_t i = 0; i < n; ++i) {
        read_integer(t, data, i, out[i]);
    }
    return out;
}

// --------------------------------------------------------------------------------------------------- BLOOM keys

hparams read_gguf_hparams(const gguf_file & f) {
    const char * n = f.name().c_str();
    if (!f.has("general.architecture")) {
        fail(BLOOM_ERR_FORMAT, "%s lacks the key general.architecture", n);
    }
    const std::string arch = f.get_string("general.architecture");
    if (arch != "bloom") {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: general.architecture is \"%s\"; bloom4j runs \"bloom\" models only", n,
             arch.c_str());
    }
    auto required = [&](const char * key) {
        const std::optional<uint64_t> v = f.get_uint(key, INT32_MAX);
        if (!v) fail(BLOOM_ERR_FORMAT, "%s lacks the key %s", n, key);
        if (*v == 0) fail(BLOOM_ERR_FORMAT, "%s: key %s is 0", n, key);
        return int32_t(*v);
    };
    // A per-layer array is accepted when all layers agree, since bloom4j's graph has one width for all.
    auto uniform = [&](const char * key) -> int64_t {
        const std::vector<uint64_t> v = f.get_uint_or_array(key, INT32_MAX);
        if (v.empty()) return -1;
        for (uint64_t x : v) {
            if (x != v[0]) {
                fail(BLOOM_ERR_UNSUPPORTED, "%s: %s differs between layers; bloom4j needs one value for all", n, key);
            }
        }
        return int64_t(v[0]);
    };

    hparams hp;
    hp.n_layer     = required("bloom.block_count");
    hp.n_embd      = required("bloom.embedding_length");
    hp.n_ctx_train = required("bloom.context_length");
    const int64_t n_head = uniform("bloom.attention.head_count");
    if (n_head < 0) fail(BLOOM_ERR_FORMAT, "%s lacks the key bloom.attention.head_count", n);
    if (n_head == 0) fail(BLOOM_ERR_FORMAT, "%s: key bloom.attention.head_count is 0", n);
    hp.n_head = int32_t(n_head);
    const float eps = f.get_float("bloom.attention.layer_norm_epsilon");
    if (!(eps > 0.0f && eps < 1.0f)) {
        fail(BLOOM_ERR_FORMAT, "%s: bloom.attention.layer_norm_epsilon must be in (0, 1), not %g", n, double(eps));
    }
    hp.norm_eps = eps;
    if (hp.n_embd % hp.n_head != 0) {
        fail(BLOOM_ERR_FORMAT, "%s: bloom.embedding_length %d is not a multiple of bloom.attention.head_count %d", n,
             hp.n_embd, hp.n_head);
    }
    if (const int64_t kv = uniform("bloom.attention.head_count_kv"); kv >= 0 && kv != hp.n_head) {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: bloom.attention.head_count_kv is %lld but head_count is %d; BLOOM has no "
             "grouped key/value heads", n, (long long) kv, hp.n_head);
    }
    if (const int64_t ff = uniform("bloom.feed_forward_length"); ff >= 0 && ff != 4 * int64_t(hp.n_embd)) {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: bloom.feed_forward_length is %lld; BLOOM's MLP is 4 * embedding_length = %lld",
             n, (long long) ff, 4 * (long long) hp.n_embd);
    }
    // GGUF has no key for apply_residual_connection_post_layernorm; llama.cpp's BLOOM graph takes it as false.
    hp.residual_post_ln = false;
    return hp;
}

vocab::gguf_data read_gguf_vocab(const gguf_file & f) {
    const char * n = f.name().c_str();
    if (!f.has("tokenizer.ggml.model")) {
        fail(BLOOM_ERR_FORMAT, "%s lacks the key tokenizer.ggml.model (a GGUF without its tokenizer)", n);
    }
    const std::string model = f.get_string("tokenizer.ggml.model");
    if (model != "gpt2") {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model is \"%s\"; BLOOM's tokenizer is \"gpt2\" (byte-level BPE)",
             n, model.c_str());
    }
    const std::string pre = f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : std::string("(none)");
    if (pre != "bloom") {
        fail(BLOOM_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre is \"%s\"; bloom4j tokenizes with BLOOM's pre-tokenizer "
             "(\"bloom\") only", n, pre.c_str());
    }
    vocab::gguf_data d;
    d.tokens = f.get_string_array("tokenizer.ggml.tokens");
    if (f.has("tokenizer.ggml.token_type")) {
        for (int64_t t : f.get_int_array("tokenizer.ggml.token_type")) {
            d.types.push_back(t < INT32_MIN || t > INT32_MAX ? 0 : int32_t(t));
        }
    }
    d.merges = f.get_string_array("tokenizer.ggml.merges");
    const std::pair<const char *, int32_t *> ids[] = {
        {"tokenizer.ggml.bos_token_id", &d.bos}, {"tokenizer.ggml.eos_token_id", &d.eos},
        {"tokenizer.ggml.unknown_token_id", &d.unk}, {"tokenizer.ggml.padding_token_id", &d.pad},
    };
    for (const auto & [key, dst] : ids) {
        if (const std::optional<uint64_t> v = f.get_uint(key, INT32_MAX)) *dst = int32_t(*v);
    }
    return d;
}

// ------------------------------------------------------------------------------------------------------- writing

gguf_writer::gguf_writer(std::string path) : path_(std::move(path)), tmp_path_(path_ + ".tmp") {
    ctx_ = gguf_init_empty();
    ggml_init_params ip = { ggml_tensor_overhead(), nullptr, true };
    tensors_ = ggml_init(ip);
    if (!ctx_ || !tensors_) {
        fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate GGUF metadata");
    }
}

gguf_writer::~gguf_writer() {
    if (out_) {
        std::fclose(out_);
    }
    if (created_ && !committed_) {
        ::unlink(tmp_path_.c_str());
    }
    ggml_free(tensors_);
    gguf_free(ctx_);
}

void gguf_writer::add_tensor(const std::string & name, ggml_type type, const std::vector<int64_t> & ne) {
    GGML_ASSERT(!out_ && ne.size() >= 1 && ne.size() <= GGML_MAX_DIMS && name.size() < GGML_MAX_NAME);
    // gguf_add_tensor copies the tensor's metadata, so one scratch slot serves every declaration.
    ggml_reset(tensors_);
    ggml_tensor * t = ggml_new_tensor(tensors_, type, int(ne.size()), ne.data());
    ggml_set_name(t, name.c_str());
    gguf_add_tensor(ctx_, t);
    ++n_declared_;
}

void gguf_writer::write_raw(const void * data, size_t n) {
    if (n && std::fwrite(data, 1, n, out_) != n) {
        fail(BLOOM_ERR_IO, "cannot write %s: %s", tmp_path_.c_str(), std::strerror(errno));
    }
}

void gguf_writer::begin() {
    out_ = std::fopen(tmp_path_.c_str(), "wb");
    if (!out_) {
        fail(BLOOM_ERR_IO, "cannot create %s: %s", tmp_path_.c_str(), std::strerror(errno));
    }
    created_ = true;
    std::vector<uint8_t> meta(gguf_get_meta_size(ctx_));
    gguf_get_meta_data(ctx_, meta.data());
    write_raw(meta.data(), meta.size());
    next_ = 0;
    written_ = 0;
}

void gguf_writer::write_data(const void * data, size_t n) {
    GGML_ASSERT(out_ && next_ < n_declared_);
    write_raw(data, n);
    written_ += n;
}

void gguf_writer::end_tensor() {
    GGML_ASSERT(out_ && next_ < n_declared_);
    const size_t expected = gguf_get_tensor_size(ctx_, int64_t(next_));
    GGML_ASSERT(written_ == expected && "tensor data size differs from its declaration");
    static const uint8_t zeros[64] = {};
    const size_t align = gguf_get_alignment(ctx_);
    size_t pad = GGML_PAD(written_, align) - written_;
    while (pad > 0) {
        const size_t k = std::min(pad, sizeof(zeros));
        write_raw(zeros, k);
        pad -= k;
    }
    ++next_;
    written_ = 0;
}

void gguf_writer::commit() {
    GGML_ASSERT(out_ && next_ == n_declared_ && "not every declared tensor was written");
    const bool ok = std::fflush(out_) == 0 && ::fsync(::fileno(out_)) == 0;
    const int err = errno;
    const bool closed = std::fclose(out_) == 0;
    out_ = nullptr;
    if (!ok || !closed) {
        fail(BLOOM_ERR_IO, "cannot write %s: %s", tmp_path_.c_str(), std::strerror(ok ? errno : err));
    }
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
        fail(BLOOM_ERR_IO, "cannot rename %s to %s: %s", tmp_path_.c_str(), path_.c_str(), std::strerror(errno));
    }
    committed_ = true;
}

} // namespace bloom
