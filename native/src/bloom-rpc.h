// Devices of other hosts through ggml's RPC backend: connecting to servers, serving this host's devices, and running
// the ggml calls that reach a server so that a lost server fails the call instead of ending the process.
//
// ggml's RPC client ends the process (GGML_ABORT) when a server cannot be reached, answers its handshake with another
// protocol version, or drops the connection. bloom4j keeps the process alive:
//  - connect() checks the server itself first (a TCP connection within the timeout), then lets ggml connect with
//    ggml's abort turned into a C++ exception on the calling thread (the handshake runs there), and shuts a handshake
//    that stalls past the timeout down so that it fails too;
//  - a connection lost later fails inside ggml's dispatcher thread, which the caller waits on. Every ggml call that
//    may reach a server therefore runs on an executor's worker thread while the caller waits for it or for the loss
//    of one of its servers; the dispatcher thread that failed is parked for good (ggml cannot continue it) and the
//    link is marked lost, so its model and contexts refuse further calls and leak their ggml objects rather than
//    wait forever on a dead connection when freed.
#pragma once

#include "ggml-backend.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bloom::rpc {

constexpr int k_default_timeout_ms = 5000;

// Whether this library has ggml's RPC backend.
bool available();
// major * 10000 + minor * 100 + patch, or -1.
int protocol_version();

// "host:port[,host:port...]" -> the endpoints, trimmed. Throws BLOOM_ERR_INVALID_ARGUMENT naming a bad entry.
std::vector<std::string> parse_endpoints(std::string_view list);

// The servers one model uses, connected, and their devices in endpoint order.
struct link {
    std::vector<std::string>        endpoints;
    std::vector<ggml_backend_dev_t> devices;
    std::atomic<bool>               lost{false};

    // Throws BLOOM_ERR_REMOTE with the loss message once the link is lost.
    void check() const;
    std::string lost_message() const;
    void mark_lost(const std::string & message);

private:
    mutable std::mutex mutex_;
    std::string        message_;
};

// Connects to every endpoint (see the header comment) and adds its devices to ggml's registry. Throws
// BLOOM_ERR_REMOTE naming the endpoint, BLOOM_ERR_INVALID_ARGUMENT for a bad endpoint, BLOOM_ERR_UNSUPPORTED
// without the RPC backend.
std::shared_ptr<link> connect(const std::vector<std::string> & endpoints, int timeout_ms);

// True for a device served by an RPC server; *endpoint (if given) receives its server.
bool is_remote(ggml_backend_dev_t dev, std::string * endpoint = nullptr);

// ggml_backend_dev_memory, asked of a remote device's server on an executor (0 and 0 once the server is lost).
void device_memory(ggml_backend_dev_t dev, size_t * free, size_t * total);

// Runs ggml calls that may reach the link's servers. Without a link run() calls the function directly.
class executor {
public:
    explicit executor(std::shared_ptr<link> l);
    ~executor();
    executor(const executor &) = delete;
    executor & operator=(const executor &) = delete;

    // Runs fn on the worker and waits for it, or for the loss of one of the link's servers: then throws
    // BLOOM_ERR_REMOTE and the worker stays blocked in ggml for good. Exceptions of fn pass through. Without a link
    // fn runs right here, with no std::function made (a decode calls this once per token).
    template <typename F>
    void run(F && fn) {
        if (!link_) {
            fn();
            return;
        }
        run_remote(std::function<void()>(std::ref(fn)));
    }

    // The link is lost: ggml objects that reach its servers must not be freed (a free would wait forever).
    bool lost() const { return link_ && link_->lost; }
    const std::shared_ptr<link> & get_link() const { return link_; }

private:
    void run_remote(const std::function<void()> & fn);
    void work();

    std::shared_ptr<link>          link_;
    std::thread                    worker_;
    const std::function<void()> *  task_ = nullptr;  // guarded by the process-wide mutex in bloom-rpc.cpp
    bool                           done_ = false;
    bool                           stop_ = false;
    std::exception_ptr             error_;
};

// Serves devices (comma-separated names; empty: every local GPU, else the CPU) on endpoint until the process ends.
// Returns only on failure, by throwing.
void serve(const std::string & endpoint, std::string_view devices, int n_threads, const std::string & cache_dir);

} // namespace bloom::rpc
