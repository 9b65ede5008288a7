#include "bloom-safetensors.h"

#include "bloom-error.h"
#include "bloom-json.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bloom {

namespace {

// A header larger than this is not a header: it guards the allocation a corrupt length would ask for.
constexpr uint64_t k_max_header_bytes = 512ull << 20;

std::string base_name(const std::string & path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_file(const std::string & path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

std::string shape_string(const std::vector<int64_t> & shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        s += (i ? ", " : "") + std::to_string(shape[i]);
    }
    return s + "]";
}

int64_t st_tensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) {
        n *= d;
    }
    return n;
}

mapped_file::mapped_file(const std::string & path, bool use_mmap) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(BLOOM_ERR_IO, "cannot open %s: %s", path.c_str(), std::strerror(errno));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(BLOOM_ERR_IO, "%s is not a regular file", path.c_str());
    }
    size_ = size_t(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        fail(BLOOM_ERR_FORMAT, "%s is empty", path.c_str());
    }
    if (use_mmap) {
        void * p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            data_   = static_cast<uint8_t *>(p);
            mapped_ = true;
        }
    }
    if (!mapped_) {
        // 64-byte alignment: ggml's CPU buffers require it of the base pointer.
        data_ = static_cast<uint8_t *>(std::aligned_alloc(64, (size_ + 63) / 64 * 64));
        if (!data_) {
            ::close(fd);
            fail(BLOOM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes to read %s", size_, path.c_str());
        }
        size_t done = 0;
        while (done < size_) {
            const ssize_t n = ::read(fd, data_ + done, size_ - done);
            if (n <= 0) {
                const int err = errno;
                std::free(data_);
                data_ = nullptr;
                ::close(fd);
                fail(BLOOM_ERR_IO, "cannot read %s: %s", path.c_str(), n == 0 ? "unexpected end" : std::strerror(err));
            }
            done += size_t(n);
        }
    }
    ::close(fd);
}

mapped_file::~mapped_file() {
    if (mapped_) {
        ::munmap(data_, size_);
    } else {
        std::free(data_);
    }
}

void mapped_file::release(const uint8_t * p, size_t n) const {
    if (!mapped_ || n == 0) {
        return;
    }
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + n) / page * page;
    if (end > begin) {
        ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);  // advice: failure changes nothing
    }
}

void st_checkpoint::add_file(const std::string & path, bool use_mmap) {
    auto file = std::make_unique<mapped_file>(path, use_mmap);
    const std::string name = base_name(path);
    if (file->size() < 8) {
        fail(BLOOM_ERR_FORMAT, "%s is truncated: %zu bytes, less than the 8-byte header length", name.c_str(), file->size());
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) {
        header_len = (header_len << 8) | file->data()[i];
    }
    if (header_len > k_max_header_bytes || header_len > file->size() - 8) {
        fail(BLOOM_ERR_FORMAT, "%s is truncated or corrupt: its header claims %llu bytes but the file has %zu",
             name.c_str(), (unsigned long long) header_len, file->size());
    }
    const std::string header(reinterpret_cast<const char *>(file->data() + 8), size_t(header_len));
    const json j = parse_json(header, name + " header");
    if (!j.is_object()) {
        fail(BLOOM_ERR_FORMAT, "%s: the header is not a JSON object", name.c_str());
    }
    const uint8_t * data_start = file->data() + 8 + header_len;
    const size_t    data_size  = file->size() - 8 - size_t(header_len);

    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "__metadata__") {
            continue;
        }
        const json & e = it.value();
        if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets") ||
            !e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() ||
            e["data_offsets"].size() != 2) {
            fail(BLOOM_ERR_FORMAT, "%s: header entry '%s' lacks a valid dtype, shape or data_offsets",
                 name.c_str(), it.key().c_str());
        }
        st_tensor t;
        t.name       = it.key();
        t.dtype_name = e["dtype"].get<std::string>();
        size_t elem  = 0;
        if      (t.dtype_name == "F32")  { t.dtype = st_dtype::f32;  elem = 4; }
        else if (t.dtype_name == "F16")  { t.dtype = st_dtype::f16;  elem = 2; }
        else if (t.dtype_name == "BF16") { t.dtype = st_dtype::bf16; elem = 2; }
        else                             { t.dtype = st_dtype::other; }
        // Element count with overflow checks: a lying header must not wrap around to a small size.
        uint64_t n = 1;
        for (const json & d : e["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) {
                fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has an invalid dimension %s", name.c_str(), t.name.c_str(),
                     d.dump().c_str());
            }
            const uint64_t v = d.get<uint64_t>();
            if (v != 0 && n > (uint64_t(1) << 62) / v) {
                fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has an absurd shape %s", name.c_str(), t.name.c_str(),
                     e["shape"].dump().c_str());
            }
            n *= v;
            t.shape.push_back(int64_t(v));
        }
        const json & off = e["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has invalid data_offsets %s", name.c_str(), t.name.c_str(),
                 off.dump().c_str());
        }
        const uint64_t begin = off[0].get<uint64_t>();
        const uint64_t end   = off[1].get<uint64_t>();
        if (begin > end || end > data_size) {
            fail(BLOOM_ERR_FORMAT, "%s is truncated or corrupt: tensor '%s' spans bytes [%llu, %llu) of a %zu-byte "
                 "data section", name.c_str(), t.name.c_str(), (unsigned long long) begin, (unsigned long long) end,
                 data_size);
        }
        if (elem != 0 && end - begin != n * elem) {
            fail(BLOOM_ERR_FORMAT, "%s: tensor '%s' has shape %s of %s (%llu bytes) but data_offsets span %llu bytes",
                 name.c_str(), t.name.c_str(), shape_string(t.shape).c_str(), t.dtype_name.c_str(),
                 (unsigned long long) (n * elem), (unsigned long long) (end - begin));
        }
        t.data    = data_start + begin;
        t.n_bytes = size_t(end - begin);
        t.file    = file.get();
        if (tensors_.count(t.name)) {
            fail(BLOOM_ERR_FORMAT, "tensor '%s' appears twice (again in %s)", t.name.c_str(), name.c_str());
        }
        tensors_.emplace(t.name, std::move(t));
    }
    files_.push_back(std::move(file));
}

std::unique_ptr<st_checkpoint> st_checkpoint::open_file(const std::string & path, bool use_mmap) {
    auto ck = std::unique_ptr<st_checkpoint>(new st_checkpoint());
    ck->add_file(path, use_mmap);
    ck->description_ = base_name(path);
    return ck;
}

std::unique_ptr<st_checkpoint> st_checkpoint::open_dir(const std::string & dir, bool use_mmap) {
    const std::string index_path  = dir + "/model.safetensors.index.json";
    const std::string single_path = dir + "/model.safetensors";
    if (!is_file(index_path)) {
        if (!is_file(single_path)) {
            fail(BLOOM_ERR_IO, "%s has neither model.safetensors nor model.safetensors.index.json", dir.c_str());
        }
        return open_file(single_path, use_mmap);
    }
    const json index = read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        fail(BLOOM_ERR_FORMAT, "%s has no \"weight_map\" object", index_path.c_str());
    }
    std::set<std::string> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
        if (!it.value().is_string()) {
            fail(BLOOM_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name", index_path.c_str(), it.key().c_str());
        }
        const std::string shard = it.value().get<std::string>();
        if (shard.empty() || shard.find('/') != std::string::npos || shard == "..") {
            fail(BLOOM_ERR_FORMAT, "%s: weight_map names an invalid shard file '%s'", index_path.c_str(), shard.c_str());
        }
        shards.insert(shard);
    }
    auto ck = std::unique_ptr<st_checkpoint>(new st_checkpoint());
    for (const std::string & shard : shards) {
        ck->add_file(dir + "/" + shard, use_mmap);
    }
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
        const st_tensor * t = ck->find(it.key());
        if (!t || base_name(t->file->path()) != it.value().get<std::string>()) {
            fail(BLOOM_ERR_FORMAT, "model.safetensors.index.json maps '%s' to %s, which does not contain it",
                 it.key().c_str(), it.value().get<std::string>().c_str());
        }
    }
    ck->description_ = std::to_string(shards.size()) + " shards of model.safetensors.index.json";
    return ck;
}

const st_tensor * st_checkpoint::find(const std::string & name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

std::string st_checkpoint::describe() const { return description_; }

} // namespace bloom
