// GGUF files, through ggml's own gguf API (gguf.h): a validating reader over a mapped file, BLOOM's hyper-parameters
// and tokenizer from its metadata, and a writer that streams tensor data after the metadata and renames into place.
//
// The reader never trusts the file: ggml's parser checks the header, key/value and tensor-info sections against the
// file size (its error lines are captured into our message), and on top of that every tensor's data range is checked
// against the mapping, with overflow guards, before any byte of it is used; typed accessors check a key's type
// before ggml's getters (which abort on a mismatch) see it.
#pragma once

#include "bloom-hparams.h"
#include "bloom-safetensors.h"  // mapped_file
#include "bloom-vocab.h"

#include "ggml.h"
#include "gguf.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bloom {

// One tensor of a GGUF file: its ggml type and shape, and its bytes inside the mapping.
struct gguf_tensor {
    std::string     name;
    ggml_type       type;
    int             n_dims;
    int64_t         ne[GGML_MAX_DIMS];  // ggml order: ne[0] is the row length
    const uint8_t * data;
    size_t          n_bytes;
};

class gguf_file {
public:
    // Maps (or, without use_mmap, reads) the file and parses its metadata. Throws bloom::error: BLOOM_ERR_IO (missing
    // or unreadable), BLOOM_ERR_FORMAT (not GGUF, truncated, inconsistent, a tensor past the end of the file).
    static std::unique_ptr<gguf_file> open(const std::string & path, bool use_mmap);
    ~gguf_file();
    gguf_file(const gguf_file &) = delete;
    gguf_file & operator=(const gguf_file &) = delete;

    const std::string &  name() const { return name_; }  // the file's base name, for messages
    const mapped_file &  file() const { return *file_; }
    const gguf_context * ctx() const { return ctx_; }

    // Typed metadata access; each throws BLOOM_ERR_FORMAT naming the key when it is absent (the required forms) or
    // of the wrong type, and the numeric ones when the value is out of range.
    bool                     has(const char * key) const;
    std::string              get_string(const char * key) const;
    std::optional<uint64_t>  get_uint(const char * key, uint64_t max) const;  // any integer type, in [0, max]
    std::vector<uint64_t>    get_uint_or_array(const char * key, uint64_t max) const;  // scalar or per-layer array
    float                    get_float(const char * key) const;                // f32 or f64
    std::vector<std::string> get_string_array(const char * key) const;
    std::vector<int64_t>     get_int_array(const char * key) const;            // any integer element type

    const std::vector<gguf_tensor> & tensors() const { return tensors_; }
    const gguf_tensor * find_tensor(const std::string & name) const;  // nullptr if absent

private:
    gguf_file() = default;
    int64_t key_id(const char * key, bool required) const;

    std::string                  name_;
    std::unique_ptr<mapped_file> file_;
    gguf_context *               ctx_ = nullptr;
    std::vector<gguf_tensor>     tensors_;
};

// BLOOM's hyper-parameters from the bloom.* keys (n_vocab is left 0: it is the embedding's row count). Throws
// BLOOM_ERR_UNSUPPORTED for another architecture (naming it) or a shape bloom4j's graph does not have (grouped KV
// heads, a feed-forward width other than 4 * n_embd), BLOOM_ERR_FORMAT for missing or invalid keys.
hparams read_gguf_hparams(const gguf_file & f);

// The tokenizer.ggml.* keys. Throws BLOOM_ERR_UNSUPPORTED for a tokenizer model other than "gpt2" or a
// pre-tokenizer other than "bloom", BLOOM_ERR_FORMAT for missing or mistyped keys.
vocab::gguf_data read_gguf_vocab(const gguf_file & f);

// Writes a GGUF file as ggml lays it out (header, key/values, tensor infos, aligned data), to `path`.tmp first:
// commit() renames it to `path`; destroying the writer without commit() removes the temporary file.
// Use: set keys and add every tensor on meta(), then begin(), then write each tensor's bytes in the order added
// (write_data any number of times, end_tensor once per tensor), then commit().
class gguf_writer {
public:
    explicit gguf_writer(std::string path);  // throws BLOOM_ERR_OUT_OF_MEMORY
    ~gguf_writer();
    gguf_writer(const gguf_writer &) = delete;
    gguf_writer & operator=(const gguf_writer &) = delete;

    gguf_context * meta() { return ctx_; }
    // Declares a tensor (name, type, shape in ggml order). Data come later, in this order.
    void add_tensor(const std::string & name, ggml_type type, const std::vector<int64_t> & ne);

    void begin();                                   // creates path.tmp and writes the metadata; BLOOM_ERR_IO
    void write_data(const void * data, size_t n);   // bytes of the current tensor; BLOOM_ERR_IO
    void end_tensor();                              // checks the size written and pads to the alignment
    void commit();                                  // flushes, closes and renames; BLOOM_ERR_IO

private:
    void write_raw(const void * data, size_t n);

    std::string    path_, tmp_path_;
    gguf_context * ctx_     = nullptr;
    ggml_context * tensors_ = nullptr;  // metadata of the declared tensors (gguf_add_tensor copies from these)
    std::FILE *    out_     = nullptr;
    size_t         n_declared_ = 0, next_ = 0, written_ = 0;
    bool           created_ = false, committed_ = false;
};

} // namespace bloom
