// Safetensors and config.json readers on well-formed and hostile files: every bad file is a bloom::error with a
// status and a message naming the problem, never a crash.
#include "check.h"

#include "bloom-error.h"
#include "bloom-hparams.h"
#include "bloom-safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string g_dir;

std::string write_file(const std::string & name, const std::string & bytes) {
    const std::string path = g_dir + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// A safetensors file from a header and a data section.
std::string safetensors(const std::string & header, const std::string & data) {
    std::string h = header;
    while ((8 + h.size()) % 8) h += ' ';
    std::string out(8, '\0');
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
    return out + h + data;
}

// Expects f to throw bloom::error with this status and a message containing `needle`.
void expect_error(const char * what, bloom_status status, const std::string & needle, const std::function<void()> & f) {
    try {
        f();
        ++g_failures;
        std::fprintf(stderr, "%s: no error (expected '%s')\n", what, needle.c_str());
    } catch (const bloom::error & e) {
        if (e.status() != status || std::string(e.what()).find(needle) == std::string::npos) {
            ++g_failures;
            std::fprintf(stderr, "%s: got status %d '%s', expected status %d containing '%s'\n", what, e.status(),
                         e.what(), status, needle.c_str());
        }
    }
}

std::string f32_bytes(std::initializer_list<float> v) {
    std::string s;
    for (float f : v) s.append(reinterpret_cast<const char *>(&f), 4);
    return s;
}

} // namespace

int main() {
    char tmpl[] = "/tmp/bloom-test-st-XXXXXX";
    g_dir = mkdtemp(tmpl);

    // A good file: two tensors, one bf16.
    {
        const std::string p = write_file("good.safetensors", safetensors(
            R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
            R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})",
            f32_bytes({1, 2, 3, 4}) + std::string("\x80\x3f\x00\x40\x40\x40", 6)));
        auto ck = bloom::st_checkpoint::open_file(p, true);
        const bloom::st_tensor * a = ck->find("a");
        CHECK(a != nullptr);
        CHECK(a->dtype == bloom::st_dtype::f32);
        CHECK_EQ(a->n_elements(), int64_t(4));
        float v3;
        std::memcpy(&v3, a->data + 8, 4);
        CHECK_EQ(v3, 3.0f);
        CHECK(ck->find("b")->dtype == bloom::st_dtype::bf16);
        CHECK(ck->find("c") == nullptr);
        auto ck2 = bloom::st_checkpoint::open_file(p, false);  // read instead of mmap: same view
        CHECK_EQ(std::memcmp(ck2->find("a")->data, a->data, 16), 0);
    }

    expect_error("missing file", BLOOM_ERR_IO, "nope.safetensors", [] {
        bloom::st_checkpoint::open_file(g_dir + "/nope.safetensors", true);
    });
    expect_error("empty file", BLOOM_ERR_FORMAT, "empty", [] {
        bloom::st_checkpoint::open_file(write_file("empty.safetensors", ""), true);
    });
    expect_error("short file", BLOOM_ERR_FORMAT, "truncated", [] {
        bloom::st_checkpoint::open_file(write_file("short.safetensors", "abc"), true);
    });
    expect_error("header length past the end", BLOOM_ERR_FORMAT, "header claims", [] {
        std::string s = safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1}));
        s[0] = '\xff';
        s[1] = '\xff';
        bloom::st_checkpoint::open_file(write_file("hdrlen.safetensors", s), true);
    });
    expect_error("header not JSON", BLOOM_ERR_FORMAT, "not valid JSON", [] {
        bloom::st_checkpoint::open_file(write_file("json.safetensors", safetensors("{not json", "")), true);
    });
    expect_error("truncated data", BLOOM_ERR_FORMAT, "spans bytes [0, 16)", [] {
        bloom::st_checkpoint::open_file(write_file("trunc.safetensors", safetensors(
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32_bytes({1, 2}))), true);
    });
    expect_error("offsets disagree with shape", BLOOM_ERR_FORMAT, "data_offsets span 8 bytes", [] {
        bloom::st_checkpoint::open_file(write_file("lie.safetensors", safetensors(
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", f32_bytes({1, 2, 3, 4}))), true);
    });
    expect_error("reversed offsets", BLOOM_ERR_FORMAT, "spans bytes [8, 4)", [] {
        bloom::st_checkpoint::open_file(write_file("rev.safetensors", safetensors(
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", f32_bytes({1, 2, 3}))), true);
    });
    expect_error("overflowing shape", BLOOM_ERR_FORMAT, "absurd shape", [] {
        bloom::st_checkpoint::open_file(write_file("huge.safetensors", safetensors(
            R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", f32_bytes({1}))), true);
    });
    expect_error("negative dimension", BLOOM_ERR_FORMAT, "invalid dimension", [] {
        bloom::st_checkpoint::open_file(write_file("neg.safetensors", safetensors(
            R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32_bytes({1}))), true);
    });
    expect_error("entry without dtype", BLOOM_ERR_FORMAT, "'a' lacks", [] {
        bloom::st_checkpoint::open_file(write_file("nodtype.safetensors", safetensors(
            R"({"a":{"shape":[1],"data_offsets":[0,4]}})", f32_bytes({1}))), true);
    });
    {
        // An unknown dtype is readable; the model loader rejects it when the tensor is needed.
        auto ck = bloom::st_checkpoint::open_file(write_file("i8.safetensors", safetensors(
            R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", "abcd")), true);
        CHECK(ck->find("a")->dtype == bloom::st_dtype::other);
        CHECK_EQ(ck->find("a")->dtype_name, std::string("I8"));
    }

    // Sharded: the index must agree with the shards.
    {
        const std::string d = g_dir + "/sharded";
        mkdir(d.c_str(), 0755);
        std::ofstream(d + "/model-00001-of-00002.safetensors", std::ios::binary) << safetensors(
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1}));
        std::ofstream(d + "/model-00002-of-00002.safetensors", std::ios::binary) << safetensors(
            R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({2}));
        std::ofstream(d + "/model.safetensors.index.json") <<
            R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
        auto ck = bloom::st_checkpoint::open_dir(d, true);
        CHECK(ck->find("a") && ck->find("b"));
        CHECK_EQ(ck->files().size(), size_t(2));
        std::ofstream(d + "/model.safetensors.index.json") <<
            R"({"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
        expect_error("index points at the wrong shard", BLOOM_ERR_FORMAT, "maps 'a'", [&] { bloom::st_checkpoint::open_dir(d, true); });
        std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"a":"../../etc/passwd"}})";
        expect_error("index escapes the directory", BLOOM_ERR_FORMAT, "invalid shard", [&] { bloom::st_checkpoint::open_dir(d, true); });
        std::ofstream(d + "/model.safetensors.index.json") << R"({"weight_map":{"a":"model-00003-of-00002.safetensors"}})";
        expect_error("missing shard", BLOOM_ERR_IO, "model-00003-of-00002.safetensors", [&] { bloom::st_checkpoint::open_dir(d, true); });
    }
    expect_error("directory without weights", BLOOM_ERR_IO, "neither model.safetensors", [] {
        bloom::st_checkpoint::open_dir(g_dir, true);
    });

    // config.json
    {
        const std::string p = write_file("config.json",
            R"({"model_type":"bloom","vocab_size":250880,"n_embed":1024,"n_layer":24,"num_attention_heads":16,)"
            R"("layer_norm_epsilon":1e-05,"apply_residual_connection_post_layernorm":false})");
        const bloom::hparams hp = bloom::hparams::load_hf(p);
        CHECK_EQ(hp.n_vocab, 250880);
        CHECK_EQ(hp.n_embd, 1024);
        CHECK_EQ(hp.n_head, 16);
        CHECK_EQ(hp.head_dim(), 64);
        CHECK_EQ(hp.n_ctx_train, 2048);
        CHECK_NEAR(hp.norm_eps, 1e-5, 1e-12);
    }
    expect_error("config without vocab_size", BLOOM_ERR_FORMAT, "vocab_size", [] {
        bloom::hparams::load_hf(write_file("c1.json", R"({"hidden_size":8,"n_layer":1,"n_head":2})"));
    });
    expect_error("config of another model", BLOOM_ERR_UNSUPPORTED, "\"llama\"", [] {
        bloom::hparams::load_hf(write_file("c2.json", R"({"model_type":"llama","vocab_size":8,"hidden_size":8,"n_layer":1,"n_head":2})"));
    });
    expect_error("heads do not divide hidden", BLOOM_ERR_FORMAT, "not a multiple", [] {
        bloom::hparams::load_hf(write_file("c3.json", R"({"vocab_size":8,"hidden_size":10,"n_layer":1,"n_head":4})"));
    });
    expect_error("negative layer count", BLOOM_ERR_FORMAT, "n_layer", [] {
        bloom::hparams::load_hf(write_file("c4.json", R"({"vocab_size":8,"hidden_size":8,"n_layer":-1,"n_head":2})"));
    });

    std::string cmd = "rm -rf " + g_dir;
    if (std::system(cmd.c_str()) != 0) {}
    return TEST_MAIN_RESULT();
}
