// llama-bench's pp and tg tests driven from C++ through bloom.h: the same protocol as the Java
// dev.bloom4j.benchmarks.LlamaBenchCompatible (see its class comment for what matches llama-bench and why), so
// that the two figures differ only by what the Java API adds on top of the C calls. Prints the same JSON fields.
//
//   benchmarks/scripts/build-native-harness.sh            # writes benchmarks/target/native/llama-bench-compatible
//   llama-bench-compatible -m model.gguf -t 2 -p 512 -n 128 -r 5
//
// It is also the program to profile the native side with, without a JVM: perf record -g llama-bench-compatible ...

#include "bloom.h"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct options {
    std::string model;
    int threads = 0;
    int n_prompt = 512;
    int n_gen = 128;
    int reps = 5;
    int batch = 512;
    uint64_t seed = 1;
    bool warmup = true;
};

[[noreturn]] void usage_error(const std::string & message) {
    std::fprintf(stderr, "error: %s\n"
                 "usage: llama-bench-compatible -m MODEL [-t threads] [-p n_prompt] [-n n_gen] [-r reps] [-b batch]\n"
                 "                              [--seed N] [--no-warmup]\n", message.c_str());
    std::exit(2);
}

int int_arg(int argc, char ** argv, int & i, const char * name) {
    if (++i >= argc) usage_error(std::string(name) + " needs a value");
    char * end = nullptr;
    long v = std::strtol(argv[i], &end, 10);
    if (*argv[i] == '\0' || *end != '\0' || v < 0 || v > 1 << 24) {
        usage_error(std::string(name) + " needs a non-negative integer, got '" + argv[i] + "'");
    }
    return int(v);
}

options parse(int argc, char ** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-m" || a == "--model") {
            if (++i >= argc) usage_error("-m needs a value");
            o.model = argv[i];
        } else if (a == "-t" || a == "--threads") {
            o.threads = int_arg(argc, argv, i, "-t");
        } else if (a == "-p" || a == "--n-prompt") {
            o.n_prompt = int_arg(argc, argv, i, "-p");
        } else if (a == "-n" || a == "--n-gen") {
            o.n_gen = int_arg(argc, argv, i, "-n");
        } else if (a == "-r" || a == "--repetitions") {
            o.reps = int_arg(argc, argv, i, "-r");
        } else if (a == "-b" || a == "--batch") {
            o.batch = int_arg(argc, argv, i, "-b");
        } else if (a == "--seed") {
            o.seed = uint64_t(int_arg(argc, argv, i, "--seed"));
        } else if (a == "--no-warmup") {
            o.warmup = false;
        } else {
            usage_error("unknown option '" + a + "'");
        }
    }
    if (o.model.empty()) usage_error("-m is required");
    if (o.reps < 1) usage_error("-r must be >= 1");
    if (o.batch < 1) usage_error("-b must be >= 1");
    if (o.n_prompt + o.n_gen == 0) usage_error("-p and -n are both 0: nothing to measure");
    return o;
}

void check(int32_t status, const char * what) {
    if (status != BLOOM_OK) {
        std::fprintf(stderr, "error: %s: %s: %s\n", what, bloom_status_string(status), bloom_last_error());
        std::exit(1);
    }
}

uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch()).count());
}

struct test_result {
    std::string name;
    int n_prompt = 0;
    int n_gen = 0;
    std::vector<uint64_t> samples_ns;
};

bloom_context * new_context(bloom_model * model, const options & o, int n_ctx) {
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx = uint32_t(n_ctx);
    cp.n_batch = uint32_t(o.batch);
    cp.n_threads = o.threads;
    bloom_context * ctx = nullptr;
    check(bloom_context_init(&ctx, model, &cp), "bloom_context_init");
    return ctx;
}

test_result test_prompt(bloom_model * model, const options & o, int n_vocab, std::mt19937_64 & rng) {
    test_result r{"pp" + std::to_string(o.n_prompt), o.n_prompt, 0, {}};
    bloom_context * ctx = new_context(model, o, o.n_prompt);
    std::uniform_int_distribution<int> id(0, n_vocab - 1);
    std::vector<bloom_token> tokens(size_t(o.n_prompt));
    auto fill = [&] { for (auto & t : tokens) t = id(rng); };
    if (o.warmup) {
        fill();
        check(bloom_context_decode(ctx, tokens.data(), tokens.size(), false), "warmup decode");
    }
    for (int rep = 0; rep < o.reps; ++rep) {
        check(bloom_context_truncate(ctx, 0), "bloom_context_truncate");
        fill();
        const uint64_t start = now_ns();
        check(bloom_context_decode(ctx, tokens.data(), tokens.size(), false), "prompt decode");
        r.samples_ns.push_back(now_ns() - start);
    }
    bloom_context_free(ctx);
    return r;
}

test_result test_gen(bloom_model * model, const options & o, int n_vocab, std::mt19937_64 & rng) {
    test_result r{"tg" + std::to_string(o.n_gen), 0, o.n_gen, {}};
    bloom_context * ctx = new_context(model, o, o.n_gen);
    std::uniform_int_distribution<int> id(0, n_vocab - 1);
    bloom_token token = id(rng);
    if (o.warmup) {
        check(bloom_context_decode(ctx, &token, 1, false), "warmup decode");
    }
    for (int rep = 0; rep < o.reps; ++rep) {
        check(bloom_context_truncate(ctx, 0), "bloom_context_truncate");
        token = id(rng);
        const uint64_t start = now_ns();
        for (int i = 0; i < o.n_gen; ++i) {
            check(bloom_context_decode(ctx, &token, 1, false), "generation decode");
            token = id(rng);
        }
        r.samples_ns.push_back(now_ns() - start);
    }
    bloom_context_free(ctx);
    return r;
}

// llama-bench's statistics: mean of per-run tokens/s and the sample standard deviation.
void stats(const test_result & r, double & avg, double & stdev) {
    std::vector<double> ts;
    for (uint64_t ns : r.samples_ns) ts.push_back(1e9 * (r.n_prompt + r.n_gen) / double(ns));
    double sum = 0;
    for (double x : ts) sum += x;
    avg = sum / double(ts.size());
    double sq = 0;
    for (double x : ts) sq += (x - avg) * (x - avg);
    stdev = ts.size() > 1 ? std::sqrt(sq / double(ts.size() - 1)) : 0.0;
}

std::string json_string(const std::string & s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

} // namespace

int main(int argc, char ** argv) {
    const options o = parse(argc, argv);
    bloom_log_set(nullptr, BLOOM_LOG_LEVEL_WARN, nullptr);

    bloom_model * model = nullptr;
    const uint64_t load_start = now_ns();
    check(bloom_model_load(&model, o.model.data(), o.model.size(), nullptr), "bloom_model_load");
    const double load_ms = double(now_ns() - load_start) / 1e6;
    bloom_model_info info;
    check(bloom_model_get_info(&info, model), "bloom_model_get_info");

    std::mt19937_64 rng(o.seed);
    std::vector<test_result> results;
    if (o.n_prompt > 0) results.push_back(test_prompt(model, o, info.n_vocab_tokens, rng));
    if (o.n_gen > 0) results.push_back(test_gen(model, o, info.n_vocab_tokens, rng));
    bloom_model_free(model);

    std::printf("{\n  \"tool\": \"bloom4j-c\",\n  \"bloom4j_version\": %s,\n  \"model_filename\": %s,\n"
                "  \"model_type\": %s,\n  \"model_n_params\": %" PRId64 ",\n  \"load_ms\": %.3f,\n"
                "  \"n_threads\": %d,\n  \"n_batch\": %d,\n  \"repetitions\": %d,\n  \"warmup\": %s,\n  \"tests\": [",
                json_string(bloom_version_string()).c_str(), json_string(o.model).c_str(),
                json_string(bloom_dtype_name(info.weight_dtype)).c_str(), info.n_params, load_ms, o.threads, o.batch,
                o.reps, o.warmup ? "true" : "false");
    for (size_t i = 0; i < results.size(); ++i) {
        const test_result & r = results[i];
        double avg, stdev;
        stats(r, avg, stdev);
        std::printf("%s\n    {\"name\": %s, \"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": 0, \"samples_ns\": [",
                    i ? "," : "", json_string(r.name).c_str(), r.n_prompt, r.n_gen);
        for (size_t j = 0; j < r.samples_ns.size(); ++j) {
            std::printf("%s%" PRIu64, j ? ", " : "", r.samples_ns[j]);
        }
        std::printf("], \"avg_ts\": %.6f, \"stddev_ts\": %.6f}", avg, stdev);
    }
    std::printf("\n  ]\n}\n");
    return 0;
}
