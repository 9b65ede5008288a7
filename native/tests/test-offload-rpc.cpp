// The GPU offload paths, run on a machine without a GPU. ggml's RPC backend serves a device of another process over
// TCP and reports it as a GPU; here two child processes serve their CPU, so a model "offloaded" to them has its
// weights, KV cache and graph splits in memory this process cannot address, as on a real GPU: any code that wrote to
// a device tensor's data pointer or read logits from device memory fails here, and the context's log says where each
// block's cache went (checked against where its weights went).
// Also the failures of RPC servers: unreachable, of another protocol version, silent past the timeout, and lost
// between two decodes (the call fails, the process lives on). Built when the library has ggml's RPC backend.
//
// Checked against the same model on the CPU alone, on one tiny random checkpoint (f32) and its q8_0 GGUF:
//  - device listing: the two servers as GPUs, then the CPU;
//  - n_gpu_layers -1 (all + output), n_layer (output on the CPU), 1 (the last block only), main_gpu 1, and
//    split_mode layer over both devices (activations copied between them by ggml's scheduler): prompt logits of
//    every position, then token-by-token decoding (each step reads the cache it wrote on the device), a truncate
//    and a re-decode, greedy generation;
//  - the f16 cache with flash attention, and attention by matrix products, on the device against the same on the CPU;
//  - what the model and context report (gpu_device, n_gpu_layers, n_ctx as asked although the device's cache is
//    allocated in 256-position tiles, flash attention kept at n_ctx 2049);
//  - refusals: main_gpu out of range, split_mode row on a backend without split buffers;
//  - the benchmark references (GEMM, copy) on a device index that is a GPU.
#include "bloom.h"

#include "check.h"
#include "checkpoint.h"

#include "ggml-backend.h"
#include "ggml-rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace bloom_test;

namespace {

constexpr int k_n_layer = 3;

// ------------------------------------------------------------------------------------------ RPC servers

// Two ports the kernel hands out as free now: both bound at once (so they differ), then released for the servers
// (a small race with other processes, fine for a test).
void free_ports(int out[2]) {
    int s[2];
    for (int i = 0; i < 2; ++i) {
        s[i] = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (s[i] < 0 || ::bind(s[i], reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
            ::getsockname(s[i], reinterpret_cast<sockaddr *>(&a), &len) != 0) {
            std::perror("free_ports");
            std::exit(2);
        }
        out[i] = ntohs(a.sin_port);
    }
    ::close(s[0]);
    ::close(s[1]);
}

bool accepts_connections(int port) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port));
    const bool ok = s >= 0 && ::connect(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
    if (s >= 0) ::close(s);
    return ok;
}

// Forks a process that serves its CPU at 127.0.0.1:port until killed (or until this process dies).
pid_t start_server(int port) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() == 1) _exit(5);  // the parent died before the line above took effect
        if (!std::getenv("BLOOM_RPC_TEST_VERBOSE") && !std::freopen("/dev/null", "w", stdout)) _exit(3);
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        const std::string endpoint = "127.0.0.1:" + std::to_string(port);
        ggml_backend_rpc_start_server(endpoint.c_str(), nullptr, 1, 1, &cpu);
        _exit(4);  // the server loop returns only on failure
    }
    return pid;
}

std::string endpoint_of(int port) { return "127.0.0.1:" + std::to_string(port); }

// Adds the server's devices to the process's device list, as llama.cpp's --rpc does; false if it never came up.
bool add_server(int port) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!accepts_connections(port)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string endpoint = endpoint_of(port);
    if (bloom_rpc_add_server(endpoint.c_str(), endpoint.size(), 0) != BLOOM_OK) {
        std::fprintf(stderr, "bloom_rpc_add_server %s: %s\n", endpoint.c_str(), bloom_last_error());
        return false;
    }
    return true;
}

std::string g_servers;  // "127.0.0.1:A,127.0.0.1:B": what every offloading load names in rpc_servers

// ------------------------------------------------------------------------------------------ running models

struct load_opts {
    int32_t n_gpu_layers = -1;
    int32_t main_gpu = 0;
    int32_t split_mode = BLOOM_SPLIT_NONE;
    std::vector<float> tensor_split = {};
};

bloom_model * load(const std::string & path, const load_opts & o) {
    bloom_model_params p = bloom_model_default_params();
    p.n_gpu_layers = o.n_gpu_layers;
    p.main_gpu = o.main_gpu;
    p.split_mode = o.split_mode;
    if (o.n_gpu_layers != 0) {
        p.rpc_servers = g_servers.c_str();
        p.rpc_servers_len = g_servers.size();
    }
    p.tensor_split = o.tensor_split.empty() ? nullptr : o.tensor_split.data();
    p.n_tensor_split = int32_t(o.tensor_split.size());
    bloom_model * m = nullptr;
    if (bloom_model_load(&m, path.c_str(), path.size(), &p) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "load %s (n_gpu_layers %d, main_gpu %d): %s\n", path.c_str(), o.n_gpu_layers, o.main_gpu,
                     bloom_last_error());
        return nullptr;
    }
    return m;
}

int32_t n_vocab_of(const bloom_model * m) {
    bloom_model_info info;
    bloom_model_get_info(&info, m);
    return info.n_vocab;
}

// Everything a run produces that a placement must not change.
struct run_result {
    std::vector<float>   prompt_logits;  // every prompt position
    std::vector<float>   step_logits;    // the last position after each single-token decode
    std::vector<float>   redo_logits;    // after truncating to the prompt and decoding the steps again in one call
    std::vector<int32_t> generated;      // greedy ids
    uint32_t             n_ctx = 0;
    int32_t              flash_attn = 0;
};

const std::vector<int32_t> k_prompt = {1, 17, 250, 999, 3, 42, 511, 77, 600, 5, 901, 12};
const std::vector<int32_t> k_steps = {88, 4, 1000, 256, 31, 700};

std::vector<float> logits(bloom_context * ctx, int32_t n_vocab) {
    const float * l = nullptr;
    size_t rows = 0;
    CHECK_EQ(bloom_context_get_logits(&l, &rows, ctx), BLOOM_OK);
    if (!l) return {};
    return std::vector<float>(l, l + rows * size_t(n_vocab));
}

run_result run(bloom_model * m, int32_t type_kv, int32_t flash_attn = BLOOM_FLASH_ATTN_AUTO) {
    run_result r;
    if (!m) return r;
    const int32_t n_vocab = n_vocab_of(m);
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    cp.type_kv = type_kv;
    cp.flash_attn = flash_attn;
    bloom_context * ctx = nullptr;
    if (bloom_context_init(&ctx, m, &cp) != BLOOM_OK) {
        ++g_failures;
        std::fprintf(stderr, "context: %s\n", bloom_last_error());
        return r;
    }
    r.n_ctx = bloom_context_n_ctx(ctx);
    r.flash_attn = resolved_params(ctx).flash_attn;
    CHECK_EQ(bloom_context_decode(ctx, k_prompt.data(), k_prompt.size(), true), BLOOM_OK);
    r.prompt_logits = logits(ctx, n_vocab);
    for (int32_t t : k_steps) {
        CHECK_EQ(bloom_context_decode(ctx, &t, 1, false), BLOOM_OK);
        const std::vector<float> l = logits(ctx, n_vocab);
        r.step_logits.insert(r.step_logits.end(), l.begin(), l.end());
    }
    CHECK_EQ(bloom_context_truncate(ctx, uint32_t(k_prompt.size())), BLOOM_OK);
    CHECK_EQ(bloom_context_decode(ctx, k_steps.data(), k_steps.size(), true), BLOOM_OK);
    r.redo_logits = logits(ctx, n_vocab);

    CHECK_EQ(bloom_context_truncate(ctx, 0), BLOOM_OK);
    CHECK_EQ(bloom_context_decode(ctx, k_prompt.data(), k_prompt.size(), false), BLOOM_OK);
    for (int i = 0; i < 8; ++i) {
        const std::vector<float> l = logits(ctx, n_vocab);
        if (l.empty()) break;
        const int32_t next = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
        r.generated.push_back(next);
        CHECK_EQ(bloom_context_decode(ctx, &next, 1, false), BLOOM_OK);
    }
    bloom_context_free(ctx);
    return r;
}

// max |a - b| over the range of a (check.h: infinite or NaN when nothing comparable was computed).
double rel_diff(const std::vector<float> & a, const std::vector<float> & b) {
    return max_abs_diff(a, b) / range_of(a);
}

void expect_same(const char * what, const run_result & cpu, const run_result & dev, double tol) {
    const double dp = rel_diff(cpu.prompt_logits, dev.prompt_logits);
    const double ds = rel_diff(cpu.step_logits, dev.step_logits);
    const double dr = rel_diff(cpu.redo_logits, dev.redo_logits);
    std::printf("%-44s prompt %.2e  steps %.2e  redo %.2e  (of the logit range; tolerance %.0e)\n", what, dp, ds, dr,
                tol);
    CHECK(dp <= tol);
    CHECK(ds <= tol);
    CHECK(dr <= tol);
    CHECK(cpu.generated == dev.generated);
    CHECK_EQ(cpu.generated.size(), size_t(8));
}

// ------------------------------------------------------------------------------------------ tests

int32_t g_gpu_index[2] = {-1, -1};  // bloom_device indices of the two servers
std::string g_log;                  // the library's log lines since the last clear

void on_log(int32_t, const char * text, void *) {
    g_log += text;
    if (g_log.empty() || g_log.back() != '\n') g_log += '\n';
}

void test_devices() {
    const int32_t n = bloom_device_count();
    int32_t n_gpu = 0;
    for (int32_t i = 0; i < n; ++i) {
        bloom_device_info info;
        CHECK_EQ(bloom_device_get_info(&info, i), BLOOM_OK);
        std::printf("device %d: %s (%s), type %d, %.0f MiB\n", i, info.name, info.description, info.type,
                    double(info.memory_total) / (1 << 20));
        if (info.type == BLOOM_DEVICE_GPU && n_gpu < 2) g_gpu_index[n_gpu++] = i;
    }
    CHECK_EQ(n_gpu, 2);
    CHECK_EQ(n, 3);
}

void test_placements(const std::string & path, const char * label, double tol) {
    bloom_model * cpu_model = load(path, {0, 0, BLOOM_SPLIT_NONE});
    if (!cpu_model) return;
    bloom_model_info info;
    bloom_model_get_info(&info, cpu_model);
    CHECK_EQ(info.n_gpu_layers, 0);
    CHECK_EQ(info.gpu_device, -1);
    const run_result cpu = run(cpu_model, BLOOM_KV_AUTO);
    CHECK_EQ(cpu.n_ctx, 64u);

    // The load log names each GPU's share: "model: <n> of 3 layers[ and the output layer] on RPC<i>".
    struct placement_case {
        const char * name; load_opts o; int32_t expect_layers; int32_t expect_device; std::vector<std::string> shares;
    };
    const placement_case cases[] = {
        {"all blocks and the output on GPU 0", {-1, 0, BLOOM_SPLIT_NONE}, k_n_layer, g_gpu_index[0],
         {"3 of 3 layers and the output layer on RPC0"}},
        {"all blocks on GPU 0, output on the CPU", {k_n_layer, 0, BLOOM_SPLIT_NONE}, k_n_layer, g_gpu_index[0],
         {"3 of 3 layers on RPC0"}},
        {"the last block on GPU 0", {1, 0, BLOOM_SPLIT_NONE}, 1, g_gpu_index[0], {"1 of 3 layers on RPC0"}},
        {"all on GPU 1 (main_gpu 1)", {-1, 1, BLOOM_SPLIT_NONE}, k_n_layer, g_gpu_index[1],
         {"3 of 3 layers and the output layer on RPC1"}},
        {"n_gpu_layers 99: as -1", {99, 0, BLOOM_SPLIT_NONE}, k_n_layer, g_gpu_index[0],
         {"3 of 3 layers and the output layer on RPC0"}},
        // Two devices with the same free memory share the 4 units (3 blocks, the output) 2 + 2.
        {"layer split over both GPUs", {-1, 0, BLOOM_SPLIT_LAYER}, k_n_layer, g_gpu_index[0],
         {"2 of 3 layers on RPC0", "1 of 3 layers and the output layer on RPC1"}},
        // Blocks 1-2: one each; main_gpu 1 holds one, so it is the one reported.
        {"layer split of the last 2 blocks, main_gpu 1", {2, 1, BLOOM_SPLIT_LAYER}, 2, g_gpu_index[1],
         {"1 of 3 layers on RPC0", "1 of 3 layers on RPC1"}},
        // One unit for two devices: the first takes it (half rounds up); main_gpu 1 holds nothing, so GPU 0 is reported.
        {"layer split of the last block, main_gpu 1", {1, 1, BLOOM_SPLIT_LAYER}, 1, g_gpu_index[0],
         {"1 of 3 layers on RPC0"}},
        // tensor_split 1:3 of the 4 units: 1 and 3 (the output layer last).
        {"layer split 1:3 (tensor_split)", {-1, 0, BLOOM_SPLIT_LAYER, {1.0f, 3.0f}}, k_n_layer, g_gpu_index[0],
         {"1 of 3 layers on RPC0", "2 of 3 layers and the output layer on RPC1"}},
        // The first block on the CPU, one block on each server (the local CPU and both hosts).
        {"the first block on the CPU, one on each server", {2, 0, BLOOM_SPLIT_LAYER, {1.0f, 1.0f}}, 2, g_gpu_index[0],
         {"1 of 3 layers on RPC0", "1 of 3 layers on RPC1"}},
        {"all on the second server (tensor_split 0,1)", {k_n_layer, 0, BLOOM_SPLIT_LAYER, {0.0f, 1.0f}}, k_n_layer,
         g_gpu_index[1], {"3 of 3 layers on RPC1"}},
    };
    for (const placement_case & c : cases) {
        g_log.clear();
        bloom_model * m = load(path, c.o);
        if (!m) continue;
        bloom_model_get_info(&info, m);
        CHECK_EQ(info.n_gpu_layers, c.expect_layers);
        CHECK_EQ(info.gpu_device, c.expect_device);
        for (const std::string & share : c.shares) {
            if (g_log.find("model: " + share + " (") == std::string::npos) {
                ++g_failures;
                std::fprintf(stderr, "%s: no '%s' in the load log:\n%s", c.name, share.c_str(), g_log.c_str());
            }
        }
        size_t n_shares = 0;  // and no other device holds any
        for (size_t at = 0; (at = g_log.find(" layers", at)) != std::string::npos; ++at) {
            const size_t eol = g_log.find('\n', at);
            n_shares += g_log.compare(g_log.rfind('\n', at) + 1, 7, "model: ") == 0 &&
                        g_log.substr(at, eol - at).find(" on RPC") != std::string::npos;
        }
        CHECK_EQ(n_shares, c.shares.size());
        g_log.clear();
        const run_result dev = run(m, BLOOM_KV_AUTO);
        CHECK_EQ(dev.n_ctx, 64u);  // the capacity asked for (the allocation is rounded up to 256-position tiles)
        // Each block's KV cache on its block's device: the context log says ", <n> layers on RPC<i>" per device.
        const size_t ctx_at = g_log.find("context: n_ctx");
        const std::string ctx_line = ctx_at == std::string::npos ? "" : g_log.substr(ctx_at, g_log.find('\n', ctx_at) - ctx_at);
        for (const std::string & share : c.shares) {
            const int n_blocks = std::atoi(share.c_str());
            const std::string kv = ", " + std::to_string(n_blocks) + " layers" + share.substr(share.rfind(" on "));
            if (ctx_line.find(kv) == std::string::npos) {
                ++g_failures;
                std::fprintf(stderr, "%s: no '%s' in the context log: %s\n", c.name, kv.c_str(), ctx_line.c_str());
            }
        }
        size_t n_kv_listed = 0;
        for (size_t at = 0; (at = ctx_line.find(" layers on RPC", at)) != std::string::npos; ++at) ++n_kv_listed;
        CHECK_EQ(n_kv_listed, c.shares.size());
        CHECK_EQ(dev.flash_attn, cpu.flash_attn);
        expect_same((std::string(label) + ": " + c.name).c_str(), cpu, dev, tol);
        bloom_model_free(m);
    }

    // The f16 cache with flash attention, on the device and on the CPU.
    bloom_model * m = load(path, {-1, 0, BLOOM_SPLIT_NONE});
    if (m) {
        // Rounding the allocation up to tiles must not cost exactness: with n_ctx 2049 every ALiBi distance is exact
        // in f16, so flash attention stays on by default (it would not if the capacity were rounded to 2304).
        bloom_context_params cp = bloom_context_default_params();
        cp.n_ctx = 2049;
        cp.n_threads = 1;
        bloom_context * big = nullptr;
        CHECK_EQ(bloom_context_init(&big, m, &cp), BLOOM_OK);
        if (big) {
            CHECK_EQ(bloom_context_n_ctx(big), 2049u);
            CHECK_EQ(resolved_params(big).flash_attn, int32_t(BLOOM_FLASH_ATTN_ON));
            std::vector<int32_t> fill(2049, 7);
            CHECK_EQ(bloom_context_decode(big, fill.data(), 2048, false), BLOOM_OK);
            CHECK_EQ(bloom_context_decode(big, fill.data(), 1, false), BLOOM_OK);
            CHECK_EQ(bloom_context_decode(big, fill.data(), 1, false), BLOOM_ERR_CONTEXT_FULL);  // 2049 is the limit
            bloom_context_free(big);
        }
        const run_result cpu16 = run(cpu_model, BLOOM_KV_F16), dev16 = run(m, BLOOM_KV_F16);
        CHECK_EQ(dev16.flash_attn, int32_t(BLOOM_FLASH_ATTN_ON));
        expect_same((std::string(label) + ": f16 cache, flash attention").c_str(), cpu16, dev16, tol);
        // Matrix-product attention: the transposed V cache written per element on the device.
        const run_result cpu_mm = run(cpu_model, BLOOM_KV_AUTO, BLOOM_FLASH_ATTN_OFF);
        const run_result dev_mm = run(m, BLOOM_KV_AUTO, BLOOM_FLASH_ATTN_OFF);
        CHECK_EQ(dev_mm.flash_attn, int32_t(BLOOM_FLASH_ATTN_OFF));
        expect_same((std::string(label) + ": no flash attention").c_str(), cpu_mm, dev_mm, tol);
        bloom_model_free(m);
    }
    bloom_model_free(cpu_model);
}

void test_refusals(const std::string & path) {
    bloom_model_params p = bloom_model_default_params();
    bloom_model * m = nullptr;
    p.rpc_servers = g_servers.c_str();
    p.rpc_servers_len = g_servers.size();
    p.main_gpu = 2;
    CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "main_gpu 2") != nullptr);
    CHECK(m == nullptr);
    p = bloom_model_default_params();
    p.rpc_servers = g_servers.c_str();
    p.rpc_servers_len = g_servers.size();
    p.split_mode = BLOOM_SPLIT_ROW;  // rows split over the GPUs of one host only
    CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "split_mode layer") != nullptr);
    CHECK(m == nullptr);
    const float too_many[3] = {1, 1, 1};
    p.split_mode = BLOOM_SPLIT_LAYER;
    p.tensor_split = too_many;
    p.n_tensor_split = 3;
    CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "3 proportions but the load uses 2 GPUs") != nullptr);
    const float negative[2] = {1, -1};
    p.tensor_split = negative;
    p.n_tensor_split = 2;
    CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_ERR_INVALID_ARGUMENT);
    CHECK(std::strstr(bloom_last_error(), "tensor_split[1]") != nullptr);
    const char * bad_lists[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "host:12ab", ",127.0.0.1:5",
                                "127.0.0.1:5,127.0.0.1:5"};
    for (const char * list : bad_lists) {
        p = bloom_model_default_params();
        p.rpc_servers = list;
        p.rpc_servers_len = std::strlen(list);
        CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_ERR_INVALID_ARGUMENT);
        CHECK(m == nullptr);
    }
    // Servers added to the process serve only the loads that name them.
    p = bloom_model_default_params();
    CHECK_EQ(bloom_model_load(&m, path.c_str(), path.size(), &p), BLOOM_OK);
    if (m) {
        bloom_model_info info;
        bloom_model_get_info(&info, m);
        CHECK_EQ(info.n_gpu_layers, 0);
        bloom_model_free(m);
    }
}

// ------------------------------------------------------------------------------------------ servers that fail

// A stand-in server on a free port, run by a thread: it accepts one connection and then answers ggml's HELLO with
// protocol version 6.0.0 (version_6), or never answers (silent).
struct fake_server {
    int listen_fd = -1;
    int port = 0;
    std::thread thread;

    explicit fake_server(bool version_6) {
        listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (::bind(listen_fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 || ::listen(listen_fd, 4) != 0 ||
            ::getsockname(listen_fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
            std::perror("fake_server");
            std::exit(2);
        }
        port = ntohs(a.sin_port);
        thread = std::thread([this, version_6] {
            // The client's probe connects and closes first; ggml's connection is the one that sends HELLO.
            for (;;) {
                const int c = ::accept(listen_fd, nullptr, nullptr);
                if (c < 0) return;
                uint8_t cmd = 0;
                uint64_t size = 0;
                if (::recv(c, &cmd, 1, MSG_WAITALL) != 1 || ::recv(c, &size, 8, MSG_WAITALL) != 8 || size > 4096) {
                    ::close(c);
                    continue;
                }
                std::vector<uint8_t> request(size);
                if (size && ::recv(c, request.data(), size, MSG_WAITALL) != ssize_t(size)) {
                    ::close(c);
                    continue;
                }
                if (version_6) {
                    // The reply of a server of another major version: its size as this client expects it
                    // (version bytes, padding, capabilities of the request's size), major 6.
                    std::vector<uint8_t> reply(4 + size, 0);
                    reply[0] = 6;
                    const uint64_t n = reply.size();
                    (void) !::send(c, &n, 8, MSG_NOSIGNAL);
                    (void) !::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
                    ::usleep(200 * 1000);
                    ::close(c);
                } else {
                    ::usleep(3 * 1000 * 1000);  // silent past the client's timeout
                    ::close(c);
                }
                return;
            }
        });
    }
    ~fake_server() {
        ::shutdown(listen_fd, SHUT_RDWR);
        ::close(listen_fd);
        thread.join();
    }
};

int32_t load_from(const std::string & path, const std::string & servers, bloom_model ** m, int32_t timeout_ms = 0) {
    bloom_model_params p = bloom_model_default_params();
    p.rpc_servers = servers.c_str();
    p.rpc_servers_len = servers.size();
    if (timeout_ms > 0) p.rpc_timeout_ms = timeout_ms;
    *m = nullptr;
    return bloom_model_load(m, path.c_str(), path.size(), &p);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void expect_error(const char * what, int32_t status, std::initializer_list<std::string> needles, double seconds,
                  double limit) {
    const std::string message = bloom_last_error();
    std::printf("%-28s %.2f s: %s\n", what, seconds, message.c_str());
    CHECK_EQ(status, int32_t(BLOOM_ERR_REMOTE));
    for (const std::string & n : needles) {
        if (message.find(n) == std::string::npos) {
            ++g_failures;
            std::fprintf(stderr, "%s: no '%s' in: %s\n", what, n.c_str(), message.c_str());
        }
    }
    CHECK(seconds < limit);
}

void test_unreachable_and_foreign(const std::string & path) {
    bloom_model * m = nullptr;
    int ports[2];
    free_ports(ports);  // nothing listens there
    auto t0 = std::chrono::steady_clock::now();
    int32_t st = load_from(path, g_servers + "," + endpoint_of(ports[0]), &m);
    expect_error("unreachable server", st, {endpoint_of(ports[0]), "connection refused"}, seconds_since(t0), 3);
    CHECK(m == nullptr);
    {
        fake_server v6(true);
        t0 = std::chrono::steady_clock::now();
        st = load_from(path, endpoint_of(v6.port), &m);
        expect_error("protocol 6 server", st, {endpoint_of(v6.port), "6.0.0", "7.0.0"}, seconds_since(t0), 3);
        CHECK(m == nullptr);
    }
    {
        fake_server silent(false);
        t0 = std::chrono::steady_clock::now();
        st = load_from(path, endpoint_of(silent.port), &m, 500);
        expect_error("silent server", st, {endpoint_of(silent.port), "did not answer", "500 ms"}, seconds_since(t0), 2);
        CHECK(m == nullptr);
    }
}

// A server killed between two decodes: the next decode fails naming it, later calls fail at once, freeing returns,
// and the process (and the other servers) go on.
void test_lost_server(const std::string & path, int port, pid_t pid) {
    bloom_model * m = nullptr;
    if (load_from(path, endpoint_of(port), &m) != BLOOM_OK || !m) {
        ++g_failures;
        std::fprintf(stderr, "load on the third server: %s\n", bloom_last_error());
        return;
    }
    bloom_context_params cp = bloom_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    bloom_context * ctx = nullptr;
    CHECK_EQ(bloom_context_init(&ctx, m, &cp), BLOOM_OK);
    if (ctx) {
        CHECK_EQ(bloom_context_decode(ctx, k_prompt.data(), k_prompt.size(), false), BLOOM_OK);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        const int32_t t = 5;
        auto t0 = std::chrono::steady_clock::now();
        int32_t st = bloom_context_decode(ctx, &t, 1, false);
        expect_error("server lost mid-decode", st, {endpoint_of(port), "lost"}, seconds_since(t0), 10);
        t0 = std::chrono::steady_clock::now();
        st = bloom_context_decode(ctx, &t, 1, false);
        expect_error("the next decode", st, {endpoint_of(port)}, seconds_since(t0), 1);
        t0 = std::chrono::steady_clock::now();
        bloom_context_free(ctx);
        CHECK(seconds_since(t0) < 1);
    }
    auto t0 = std::chrono::steady_clock::now();
    bloom_model_free(m);
    CHECK(seconds_since(t0) < 1);
    t0 = std::chrono::steady_clock::now();
    const int32_t st = load_from(path, endpoint_of(port), &m);
    expect_error("loading on it again", st, {endpoint_of(port), "lost earlier"}, seconds_since(t0), 1);
    // The other servers still serve.
    bloom_model * other = load(path, {-1, 0, BLOOM_SPLIT_LAYER});
    if (other) {
        const run_result r = run(other, BLOOM_KV_AUTO);
        CHECK_EQ(r.generated.size(), size_t(8));
        bloom_model_free(other);
    }
}

void test_bench_on_device() {
    double s = 0;
    CHECK_EQ(bloom_bench_matmul(&s, g_gpu_index[0], 64, 32, 128, BLOOM_DTYPE_F16, 1, 2), BLOOM_OK);
    CHECK(s > 0);
    s = 0;
    CHECK_EQ(bloom_bench_copy(&s, g_gpu_index[1], 1 << 20, 1, 2), BLOOM_OK);
    CHECK(s > 0);
}

} // namespace

int main() {
    // The servers first, before this process has threads (fork copies only the calling one).
    // A write to a lost server's connection raises SIGPIPE, which a C program must ignore (bloom.h).
    ::signal(SIGPIPE, SIG_IGN);
    int ports[2], spare[2];
    free_ports(ports);
    free_ports(spare);
    // The third server is killed by test_lost_server.
    const pid_t servers[3] = {start_server(ports[0]), start_server(ports[1]), start_server(spare[0])};
    bool up = true;
    for (int port : ports) up = up && add_server(port);
    g_servers = endpoint_of(ports[0]) + "," + endpoint_of(ports[1]);
    if (!up) {
        std::fprintf(stderr, "an RPC server did not come up\n");
        ++g_failures;
    } else {
        char tmpl[] = "/tmp/bloom-test-offload-XXXXXX";
        if (!mkdtemp(tmpl)) {
            std::perror("mkdtemp");
            return 2;
        }
        const std::string dir = tmpl;
        const std::string ck = dir + "/ck", q8 = dir + "/ck-q8_0.gguf";
        write_checkpoint(ck, {128, 2, k_n_layer, 1024, false, false, false}, 11);  // head size 64
        bloom_convert_params cp = bloom_convert_default_params();
        cp.ftype = BLOOM_FTYPE_Q8_0;
        CHECK_EQ(bloom_convert(ck.c_str(), ck.size(), q8.c_str(), q8.size(), &cp), BLOOM_OK);

        bloom_log_set(on_log, BLOOM_LOG_LEVEL_INFO, nullptr);
        test_devices();
        if (g_gpu_index[1] >= 0) {
            // f32: the same ggml CPU kernels run on both sides, so only the order of a few sums may differ.
            test_placements(ck, "f32", 1e-5);
            test_placements(q8, "q8_0", 1e-5);
            test_refusals(ck);
            test_bench_on_device();
            test_unreachable_and_foreign(ck);
            test_lost_server(ck, spare[0], servers[2]);
        }
        if (g_failures == 0) {
            const std::string cmd = "rm -rf '" + dir + "'";
            if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
        } else {
            std::fprintf(stderr, "files kept in %s\n", dir.c_str());
        }
    }
    for (pid_t pid : servers) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    return TEST_MAIN_RESULT();
}
