// libFuzzer target: GGUF model files.
//
// The input is a whole GGUF file. It is written to model.gguf in a scratch directory and
//   1. parsed with ggml's gguf reader (metadata only, as a model loader uses it), walking every key, value, array
//      element and tensor record, so that the parser's own bounds checks are exercised on their own;
//   2. loaded with bloom_model_load, the real target: the bloom-side validation of architecture, keys, tokenizer
//      arrays, tensor names, shapes, types and offsets; a model that loads is then run for two tokens, since a
//      loader that accepts tensors the graph cannot use is a bug too;
//   3. when it loads, re-quantized with bloom_convert to a file type picked from the input's hash, and the result
//      loaded again: the converter reads the same hostile file, and what it writes must always load.
// Error returns are expected outcomes; crashes, sanitizer reports, leaks, timeouts and oversized allocations are
// findings. The model is read into a heap buffer (use_mmap false) so that ASan sees the file's bounds.
#include "fuzz-util.h"

#include "bloom.h"

#include "gguf.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace {

volatile uint64_t g_sink;

uint64_t walk_metadata(const gguf_context * g) {
    uint64_t sum = gguf_get_version(g) + gguf_get_alignment(g) + gguf_get_data_offset(g);
    const int64_t n_kv = gguf_get_n_kv(g);
    for (int64_t i = 0; i < n_kv; ++i) {
        sum += std::strlen(gguf_get_key(g, i));
        const gguf_type type = gguf_get_kv_type(g, i);
        if (type == GGUF_TYPE_STRING) {
            sum += std::strlen(gguf_get_val_str(g, i));
        } else if (type == GGUF_TYPE_ARRAY) {
            const size_t n = gguf_get_arr_n(g, i);
            if (gguf_get_arr_type(g, i) == GGUF_TYPE_STRING) {
                for (size_t j = 0; j < n; ++j) {
                    sum += std::strlen(gguf_get_arr_str(g, i, j));
                }
            } else if (n > 0) {
                sum += *static_cast<const uint8_t *>(gguf_get_arr_data(g, i));
            }
        } else {
            sum += *static_cast<const uint8_t *>(gguf_get_val_data(g, i));
        }
    }
    const int64_t n_tensors = gguf_get_n_tensors(g);
    for (int64_t i = 0; i < n_tensors; ++i) {
        sum += std::strlen(gguf_get_tensor_name(g, i)) + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i) +
               uint64_t(gguf_get_tensor_type(g, i));
        const int64_t * ne = gguf_get_tensor_ne(g, i);
        sum += uint64_t(ne[0] + ne[1] + ne[2] + ne[3]);
    }
    return sum;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    bloom_fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    static const std::string path = bloom_fuzz::scratch_subdir("gguf") + "/model.gguf";
    bloom_fuzz::write_file(path, data, size);

    gguf_init_params gp = {/*no_alloc =*/ true, /*ctx =*/ nullptr};
    if (gguf_context * g = gguf_init_from_file(path.c_str(), gp)) {
        g_sink = walk_metadata(g);
        gguf_free(g);
        bloom_fuzz::note("ggml gguf parser", "parsed");
    } else {
        bloom_fuzz::note("ggml gguf parser", "refused");
    }

    bloom_model_params mp = bloom_model_default_params();
    mp.use_mmap = false;
    bloom_model * model = nullptr;
    const int32_t status = bloom_model_load(&model, path.data(), path.size(), &mp);
    bloom_fuzz::check_status(status, "model");
    if (status == BLOOM_OK) {
        bloom_fuzz::run_model(model);
        bloom_model_free(model);
        bloom_fuzz::convert_round_trip(path, bloom_fuzz::input_hash(data, size));
    }
    return 0;
}
