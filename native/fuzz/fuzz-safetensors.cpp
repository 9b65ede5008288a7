// libFuzzer target: the Hugging Face checkpoint readers, from single files up to a whole model load.
//
// The first input byte picks what the rest is (byte % 4):
//   0  a model.safetensors file, opened alone (bloom::st_checkpoint::open_file); every tensor view it hands out is
//      then read end to end, so that a view reaching past the file is an ASan report, not a silent wrong answer
//   1  a config.json (bloom::hparams::load_hf)
//   2  config.json, separator, model.safetensors: a checkpoint directory with a fixed tiny tokenizer.json, loaded
//      with bloom_model_load and, when that succeeds, run for two tokens (a loader that accepts tensors the graph
//      cannot use is a bug too), then converted to GGUF (a file type picked from the input's hash) and reloaded
//      (what bloom_convert writes must always load)
//   3  model.safetensors.index.json, separator, shard 1, separator, shard 2: a sharded checkpoint (open_dir), the
//      shards named model-00001-of-00002.safetensors and model-00002-of-00002.safetensors
// (separator: bloom_fuzz::k_file_separator). bloom::error and error statuses are expected outcomes; crashes,
// sanitizer reports, leaks, timeouts and oversized allocations are findings.
//
// Files are read into heap buffers (use_mmap false) rather than mapped: ASan sees heap bounds, not mapping bounds.
#include "fuzz-util.h"

#include "bloom.h"
#include "bloom-error.h"
#include "bloom-hparams.h"
#include "bloom-safetensors.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace {

// Reads every byte of every tensor. The sum is returned so that the reads cannot be optimised away.
uint64_t touch_tensors(const bloom::st_checkpoint & ck) {
    uint64_t sum = 0;
    for (const auto & [name, t] : ck.tensors()) {
        for (size_t i = 0; i < t.n_bytes; ++i) {
            sum += t.data[i];
        }
        sum += uint64_t(t.n_elements()) + bloom::shape_string(t.shape).size() + name.size();
    }
    return sum + ck.describe().size();
}

volatile uint64_t g_sink;

void fuzz_safetensors_file(const uint8_t * data, size_t size) {
    const std::string path = bloom_fuzz::write_file(bloom_fuzz::scratch_subdir("file") + "/model.safetensors", data, size);
    try {
        auto ck = bloom::st_checkpoint::open_file(path, false);
        g_sink = touch_tensors(*ck);
        bloom_fuzz::note("safetensors file", "read");
    } catch (const bloom::error & e) {
        bloom_fuzz::note("safetensors file", e.what());
    }
}

void fuzz_config(const uint8_t * data, size_t size) {
    const std::string path = bloom_fuzz::write_file(bloom_fuzz::scratch_subdir("config") + "/config.json", data, size);
    try {
        const bloom::hparams hp = bloom::hparams::load_hf(path);
        g_sink = uint64_t(hp.head_dim());
        bloom_fuzz::note("config.json", "read");
    } catch (const bloom::error & e) {
        bloom_fuzz::note("config.json", e.what());
    }
}

void fuzz_model_dir(const uint8_t * data, size_t size) {
    static const std::string dir = [] {
        const std::string d = bloom_fuzz::scratch_subdir("model");
        bloom_fuzz::write_file(d + "/tokenizer.json", bloom_fuzz::k_tiny_tokenizer_json);
        return d;
    }();
    const auto parts = bloom_fuzz::split_files(data, size, 2);
    bloom_fuzz::write_file(dir + "/config.json", parts[0]);
    if (parts.size() > 1) {
        bloom_fuzz::write_file(dir + "/model.safetensors", parts[1]);
    } else {
        bloom_fuzz::remove_file(dir + "/model.safetensors");
    }
    bloom_model_params mp = bloom_model_default_params();
    mp.use_mmap = false;
    bloom_model * model = nullptr;
    const int32_t status = bloom_model_load(&model, dir.data(), dir.size(), &mp);
    bloom_fuzz::check_status(status, "checkpoint");
    if (status == BLOOM_OK) {
        bloom_fuzz::run_model(model);
        bloom_model_free(model);
        bloom_fuzz::convert_round_trip(dir, bloom_fuzz::input_hash(data, size));
    }
}

void fuzz_sharded(const uint8_t * data, size_t size) {
    static const std::string dir = bloom_fuzz::scratch_subdir("sharded");
    static const char * const names[] = {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                         "model-00002-of-00002.safetensors"};
    const auto parts = bloom_fuzz::split_files(data, size, 3);
    for (size_t i = 0; i < 3; ++i) {
        if (i < parts.size()) {
            bloom_fuzz::write_file(dir + "/" + names[i], parts[i]);
        } else {
            bloom_fuzz::remove_file(dir + "/" + names[i]);
        }
    }
    try {
        auto ck = bloom::st_checkpoint::open_dir(dir, false);
        g_sink = touch_tensors(*ck);
        bloom_fuzz::note("sharded checkpoint", "read");
    } catch (const bloom::error & e) {
        bloom_fuzz::note("sharded checkpoint", e.what());
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    bloom_fuzz::quiet_logs();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 4) {
        case 0: fuzz_safetensors_file(data + 1, size - 1); break;
        case 1: fuzz_config(data + 1, size - 1); break;
        case 2: fuzz_model_dir(data + 1, size - 1); break;
        case 3: fuzz_sharded(data + 1, size - 1); break;
    }
    return 0;
}
