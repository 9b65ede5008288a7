#include "fuzz-util.h"

#include "bloom.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <ftw.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace bloom_fuzz {

namespace {

int remove_entry(const char * path, const struct stat *, int, struct FTW *) { return ::remove(path); }

void remove_scratch() { ::nftw(scratch_dir().c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

[[noreturn]] void die(const char * what, const std::string & path) {
    std::fprintf(stderr, "bloom-fuzz: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
    std::abort();
}

} // namespace

const std::string & scratch_dir() {
    static const std::string dir = [] {
        std::string base = "/dev/shm";
        if (::access(base.c_str(), W_OK) != 0) {
            const char * tmp = std::getenv("TMPDIR");
            base = tmp && *tmp ? tmp : "/tmp";
        }
        std::string templ = base + "/bloom-fuzz-" + std::to_string(::getpid()) + "-XXXXXX";
        if (!::mkdtemp(templ.data())) {
            die("cannot create a scratch directory", templ);
        }
        return templ;
    }();
    static const bool cleanup_registered = (std::atexit(remove_scratch), true);
    (void) cleanup_registered;
    return dir;
}

std::string scratch_subdir(const std::string & name) {
    const std::string path = scratch_dir() + "/" + name;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        die("cannot create", path);
    }
    return path;
}

std::string write_file(const std::string & path, std::string_view text) {
    return write_file(path, text.data(), text.size());
}

void remove_file(const std::string & path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        die("cannot remove", path);
    }
}

std::vector<std::string_view> split_files(const uint8_t * data, size_t size, size_t max_parts) {
    std::string_view rest(reinterpret_cast<const char *>(data), size);
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < max_parts) {
        const size_t at = rest.find(k_file_separator);
        if (at == std::string_view::npos) {
            break;
        }
        parts.push_back(rest.substr(0, at));
        rest.remove_prefix(at + k_file_separator.size());
    }
    parts.push_back(rest);
    return parts;
}

std::string write_file(const std::string & path, const void * data, size_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        die("cannot create", path);
    }
    const char * p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("cannot write", path);
        }
        p += n;
        size -= size_t(n);
    }
    ::close(fd);
    return path;
}

void run_model(bloom_model * model) {
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx     = 4;
    cp.n_batch   = 4;
    cp.n_threads = 1;
    bloom_context * ctx = nullptr;
    const int32_t st = bloom_context_init(&ctx, model, &cp);
    check_status(st, "context");
    if (st != BLOOM_OK) {
        return;
    }
    bloom_model_info info;
    if (bloom_model_get_info(&info, model) == BLOOM_OK && info.n_vocab > 1) {
        // The first and the last id: the embedding rows at both ends of the table.
        const bloom_token tokens[2] = {0, info.n_vocab - 1};
        const int32_t st_decode = bloom_context_decode(ctx, tokens, 2, true);
        check_status(st_decode, "decode");
        if (st_decode == BLOOM_OK) {
            const float * logits = nullptr;
            size_t rows = 0;
            if (bloom_context_get_logits(&logits, &rows, ctx) == BLOOM_OK) {
                volatile float sum = 0;
                for (size_t i = 0; i < rows * size_t(info.n_vocab); ++i) {
                    sum = sum + logits[i];
                }
                note("decoded", std::to_string(rows).append(" rows of logits").c_str());
            }
        }
    }
    bloom_context_free(ctx);
}

void note(const char * what, const char * detail) {
    static const bool verbose = [] {
        const char * v = std::getenv("BLOOM_FUZZ_VERBOSE");
        return v && *v && std::strcmp(v, "0") != 0;
    }();
    if (verbose) {
        std::fprintf(stderr, "bloom-fuzz: %s: %s\n", what, detail);
    }
}

void check_status(int32_t status, const char * what) {
    if (status == BLOOM_ERR_INTERNAL) {
        std::fprintf(stderr, "bloom-fuzz: %s: BLOOM_ERR_INTERNAL (a bad file must get a specific status): %s\n", what,
                     bloom_last_error());
        std::abort();
    }
    note(what, status == BLOOM_OK ? "ok" : bloom_last_error());
}

void convert_round_trip(const std::string & in_path, uint32_t pick) {
    static const std::string out_path = scratch_subdir("convert") + "/converted.gguf";
    constexpr int32_t n_ftypes = BLOOM_FTYPE_Q6_K + 1;
    bloom_convert_params cp = bloom_convert_default_params();
    cp.ftype     = int32_t(pick % n_ftypes);
    cp.n_threads = 1;
    const int32_t st = bloom_convert(in_path.data(), in_path.size(), out_path.data(), out_path.size(), &cp);
    check_status(st, bloom_ftype_name(cp.ftype));
    if (st != BLOOM_OK) {
        return;
    }
    bloom_model_params mp = bloom_model_default_params();
    mp.use_mmap = false;
    bloom_model * model = nullptr;
    const int32_t st_load = bloom_model_load(&model, out_path.data(), out_path.size(), &mp);
    if (st_load != BLOOM_OK) {
        std::fprintf(stderr, "bloom-fuzz: bloom_convert wrote a %s file that bloom_model_load refuses (status %d): %s\n",
                     bloom_ftype_name(cp.ftype), st_load, bloom_last_error());
        std::abort();
    }
    note("converted and reloaded", bloom_ftype_name(cp.ftype));
    bloom_model_free(model);
}

uint32_t input_hash(const uint8_t * data, size_t size) {
    uint32_t h = 2166136261u ^ uint32_t(size);  // FNV-1a
    for (size_t i = 0; i < size; ++i) {
        h = (h ^ data[i]) * 16777619u;
    }
    return h;
}

void quiet_logs() {
    bloom_log_set([](int32_t, const char *, void *) {}, BLOOM_LOG_LEVEL_ERROR, nullptr);
}

// The shape of BLOOM's own tokenizer.json (added tokens, Split + ByteLevel pre-tokenizer, ByteLevel decoder, BPE),
// over a 16-token vocabulary. "Ġ" is the byte-level spelling of a space.
const char * const k_tiny_tokenizer_json = R"json({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {"id": 0, "special": true, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 1, "special": true, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 2, "special": true, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 3, "special": true, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": " ?[^(\\s|[.,!?…。，、।۔،])]+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": false},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": false},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
    "end_of_word_suffix": null, "fuse_unk": false,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "a": 4, "b": 5, "c": 6, "Ġ": 7, "ab": 8, "Ġa": 9,
              "!": 10, ".": 11, "h": 12, "e": 13, "l": 14, "o": 15},
    "merges": ["a b", "Ġ a"]}
})json";

} // namespace bloom_fuzz
