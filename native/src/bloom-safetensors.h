// Safetensors reader: one file or a sharded set (model.safetensors.index.json). Files are memory-mapped (or
// read once into an aligned buffer), headers are validated against the file size before any byte of data is
// used, and tensors are handed out as views into the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bloom {

// A whole file in memory: mmap'ed (read-only, page-aligned) or read into an aligned heap buffer.
class mapped_file {
public:
    mapped_file(const std::string & path, bool use_mmap);  // throws bloom::error (BLOOM_ERR_IO)
    ~mapped_file();
    mapped_file(const mapped_file &) = delete;
    mapped_file & operator=(const mapped_file &) = delete;

    const uint8_t * data() const { return data_; }
    size_t          size() const { return size_; }
    const std::string & path() const { return path_; }
    // Tells the kernel that bytes [p, p + n) of the mapping will not be read again, so that their pages leave the
    // process's resident memory (a weight copied elsewhere at load time). A no-op for a file read into memory.
    void release(const uint8_t * p, size_t n) const;

private:
    std::string path_;
    uint8_t *   data_   = nullptr;
    size_t      size_   = 0;
    bool        mapped_ = false;
};

enum class st_dtype { f32, f16, bf16, other };

struct st_tensor {
    std::string          name;
    st_dtype             dtype;
    std::string          dtype_name;  // as the header spells it ("F32", "I8", ...)
    std::vector<int64_t> shape;       // row-major, outermost first
    const uint8_t *      data;        // into the owning file's mapping
    size_t               n_bytes;
    const mapped_file *  file;

    int64_t n_elements() const;
};

// Every tensor of a checkpoint, by name. Owns the mappings; views stay valid as long as it lives.
class st_checkpoint {
public:
    // dir/model.safetensors.index.json (sharded) or dir/model.safetensors. Throws bloom::error.
    static std::unique_ptr<st_checkpoint> open_dir(const std::string & dir, bool use_mmap);
    // One file. Throws bloom::error.
    static std::unique_ptr<st_checkpoint> open_file(const std::string & path, bool use_mmap);

    const st_tensor * find(const std::string & name) const;  // nullptr if absent
    const std::map<std::string, st_tensor> & tensors() const { return tensors_; }
    const std::vector<std::unique_ptr<mapped_file>> & files() const { return files_; }
    std::string describe() const;  // "model.safetensors" or "3 shards of model.safetensors.index.json"

private:
    void add_file(const std::string & path, bool use_mmap);

    std::vector<std::unique_ptr<mapped_file>> files_;
    std::map<std::string, st_tensor>          tensors_;
    std::string                               description_;
};

std::string shape_string(const std::vector<int64_t> & shape);  // "[3072, 1024]"

} // namespace bloom
