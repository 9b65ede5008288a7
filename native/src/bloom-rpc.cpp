#include "bloom-rpc.h"

#include "bloom-error.h"
#include "bloom-log.h"

#ifdef BLOOM_HAVE_RPC
#include "ggml-rpc.h"
#endif

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace bloom::rpc {

namespace {

// Thrown out of ggml's abort on a thread that asked for it (t_throw_on_abort): the caller of a handshake, and
// executors' workers.
class abort_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

thread_local bool t_throw_on_abort = false;

struct throw_on_abort_scope {
    bool saved = t_throw_on_abort;
    throw_on_abort_scope() { t_throw_on_abort = true; }
    ~throw_on_abort_scope() { t_throw_on_abort = saved; }
};

// Process-wide: the executors' hand-offs, and what is known of lost connections. Never destroyed: threads parked
// for good (a lost connection's) still wait on it when the process exits, and destroying a condition variable
// with waiters blocks exit.
struct shared_state {
    std::mutex                  mutex;
    std::condition_variable     cv;
    uint64_t                    losses = 0;       // bumped on every lost connection
    std::string                 loss_message;     // ggml's message for the latest
    std::map<long, std::string> dispatcher_of;    // thread id of ggml's dispatcher -> its endpoint
    std::set<std::string>       lost_endpoints;
};
shared_state & g_state = *new shared_state;
std::mutex &              g_mutex = g_state.mutex;
std::condition_variable & g_cv = g_state.cv;
uint64_t &                g_losses = g_state.losses;
std::string &             g_loss_message = g_state.loss_message;
std::map<long, std::string> & g_dispatcher_of = g_state.dispatcher_of;
std::set<std::string> &   g_lost_endpoints = g_state.lost_endpoints;

long thread_id() { return long(::syscall(SYS_gettid)); }

// "a, b,c" -> {"a", "b", "c"}: the comma-separated entries, blanks around each trimmed (empty ones kept).
std::vector<std::string> split_list(std::string_view list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string_view::npos) end = list.size();
        std::string e(list.substr(start, end - start));
        e.erase(0, e.find_first_not_of(" \t"));
        e.erase(e.find_last_not_of(" \t") + 1);
        out.push_back(e);
        start = end + 1;
    }
    return out;
}

std::set<long> thread_ids() {
    std::set<long> ids;
    if (DIR * d = ::opendir("/proc/self/task")) {
        while (dirent * e = ::readdir(d)) {
            if (e->d_name[0] != '.') ids.insert(std::strtol(e->d_name, nullptr, 10));
        }
        ::closedir(d);
    }
    return ids;
}

#ifdef BLOOM_HAVE_RPC
ggml_abort_callback_t g_previous_abort = nullptr;

// ggml's abort, for every thread of the process. Lines from ggml's RPC code are a server that cannot be reached or
// was lost: on a thread that asked for it, an exception its caller catches; on ggml's dispatcher thread, whose
// caller waits for it on an executor, a recorded loss, and the thread parked for good (returning would end the
// process, and ggml has no way to continue it). Anything else goes on to abort as before.
void on_abort(const char * message) {
    const bool from_rpc = std::strstr(message, "ggml-rpc") != nullptr;
    if (from_rpc && t_throw_on_abort) {
        throw abort_error(message);
    }
    if (from_rpc) {
        std::string endpoint;
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            auto it = g_dispatcher_of.find(thread_id());
            if (it != g_dispatcher_of.end()) {
                endpoint = it->second;
                g_lost_endpoints.insert(endpoint);
            }
            g_loss_message = message;
            ++g_losses;
        }
        g_cv.notify_all();
        bloom::log(BLOOM_LOG_LEVEL_ERROR, "rpc: lost the connection to %s (%s)",
                   endpoint.empty() ? "an RPC server" : endpoint.c_str(), message);
        for (;;) ::pause();
    }
    if (g_previous_abort) {
        g_previous_abort(message);
    } else {
        std::fprintf(stderr, "%s\n", message);
    }
}

void install_abort_hook() {
    static std::once_flag once;
    std::call_once(once, [] { g_previous_abort = ggml_set_abort_callback(on_abort); });
}
#endif

void split_endpoint(const std::string & endpoint, std::string & host, int & port) {
    const size_t colon = endpoint.rfind(':');
    const std::string port_text = colon == std::string::npos ? "" : endpoint.substr(colon + 1);
    host = colon == std::string::npos ? "" : endpoint.substr(0, colon);
    char * end = nullptr;
    const long p = port_text.empty() ? -1 : std::strtol(port_text.c_str(), &end, 10);
    if (host.empty() || port_text.empty() || *end != '\0' || p < 1 || p > 65535 ||
        host.find_first_of(" ,") != std::string::npos) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "RPC server '%s' is not host:port (e.g. 192.168.1.7:50052)", endpoint.c_str());
    }
    port = int(p);
}

// The IPv4 addresses of host (ggml's RPC transport speaks IPv4 only).
std::vector<sockaddr_in> resolve(const std::string & endpoint) {
    std::string host;
    int port = 0;
    split_endpoint(endpoint, host, port);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo * res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0) {
        fail(BLOOM_ERR_REMOTE, "RPC server %s: cannot resolve '%s' to an IPv4 address: %s", endpoint.c_str(),
             host.c_str(), ::gai_strerror(rc));
    }
    std::vector<sockaddr_in> out;
    for (addrinfo * a = res; a; a = a->ai_next) {
        out.push_back(*reinterpret_cast<const sockaddr_in *>(a->ai_addr));
    }
    ::freeaddrinfo(res);
    return out;
}

// Opens (and closes) a TCP connection to the server within timeout_ms; throws BLOOM_ERR_REMOTE saying why not.
void probe(const std::string & endpoint, int timeout_ms) {
    std::string why;
    for (const sockaddr_in & addr : resolve(endpoint)) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) fail(BLOOM_ERR_REMOTE, "RPC server %s: socket: %s", endpoint.c_str(), std::strerror(errno));
        int err = 0;
        if (::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                pollfd p = {fd, POLLOUT, 0};
                const int n = ::poll(&p, 1, timeout_ms);
                socklen_t len = sizeof err;
                if (n == 0) {
                    err = ETIMEDOUT;
                } else if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                    err = errno;
                }
            }
        }
        ::close(fd);
        if (err == 0) return;
        why = err == ETIMEDOUT ? format("no answer within %d ms", timeout_ms)
            : err == ECONNREFUSED ? "connection refused (is `bloom rpc-server` running there, on that port?)"
            : std::strerror(err);
    }
    fail(BLOOM_ERR_REMOTE, "cannot reach RPC server %s: %s", endpoint.c_str(), why.c_str());
}

// Shuts down this process's sockets connected to one of addrs: a handshake that stalls then fails in ggml.
void shut_down_connections_to(const std::vector<sockaddr_in> & addrs) {
    DIR * d = ::opendir("/proc/self/fd");
    if (!d) return;
    while (dirent * e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        const int fd = int(std::strtol(e->d_name, nullptr, 10));
        struct stat st{};
        if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0 || peer.sin_family != AF_INET) continue;
        for (const sockaddr_in & a : addrs) {
            if (a.sin_addr.s_addr == peer.sin_addr.s_addr && a.sin_port == peer.sin_port) ::shutdown(fd, SHUT_RDWR);
        }
    }
    ::closedir(d);
}

#ifdef BLOOM_HAVE_RPC
// One connection per server for the whole process: ggml shares a server's connection between every user of it
// (its dispatcher), and this backend keeps it open, so that the dispatcher's thread, known here, stays the one.
struct server {
    ggml_backend_t     holder = nullptr;
    ggml_backend_reg_t reg    = nullptr;
};
std::mutex                    g_connect_mutex;
std::map<std::string, server> g_servers;

server & add_server(const std::string & endpoint, int timeout_ms) {
    auto it = g_servers.find(endpoint);
    if (it != g_servers.end()) return it->second;
    probe(endpoint, timeout_ms);
    const std::vector<sockaddr_in> addrs = resolve(endpoint);

    // A watchdog ends a handshake that stalls (a server busy with another client, or no ggml server at all).
    std::mutex m;
    std::condition_variable cv;
    bool finished = false, timed_out = false;
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> lock(m);
        if (!cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return finished; })) {
            timed_out = true;
            shut_down_connections_to(addrs);
        }
    });
    const std::set<long> before = thread_ids();
    server s;
    std::string failure;
    try {
        throw_on_abort_scope scope;
        s.holder = ggml_backend_rpc_init(endpoint.c_str(), 0);
        s.reg = ggml_backend_rpc_add_server(endpoint.c_str());
    } catch (const abort_error & e) {
        failure = e.what();
    }
    {
        std::lock_guard<std::mutex> lock(m);
        finished = true;
    }
    cv.notify_all();
    watchdog.join();
    if (!failure.empty()) {
        const std::string logged = last_ggml_error();
        if (timed_out) {
            fail(BLOOM_ERR_REMOTE, "RPC server %s accepted the connection but did not answer ggml's handshake within "
                 "%d ms (a server serves one client at a time: is another client using it?)", endpoint.c_str(),
                 timeout_ms);
        }
        if (logged.find("version mismatch") != std::string::npos) {
            fail(BLOOM_ERR_REMOTE, "RPC server %s speaks another ggml RPC protocol (%s); this library speaks %d.%d.%d: "
                 "run the same bloom4j (or ggml) version on every host", endpoint.c_str(), logged.c_str(),
                 RPC_PROTO_MAJOR_VERSION, RPC_PROTO_MINOR_VERSION, RPC_PROTO_PATCH_VERSION);
        }
        fail(BLOOM_ERR_REMOTE, "RPC server %s: the ggml RPC handshake failed (%s%s%s); is it a ggml RPC server of "
             "protocol %d.x?", endpoint.c_str(), failure.c_str(), logged.empty() ? "" : "; ", logged.c_str(),
             RPC_PROTO_MAJOR_VERSION);
    }
    if (!s.reg || ggml_backend_reg_dev_count(s.reg) == 0) {
        fail(BLOOM_ERR_REMOTE, "RPC server %s serves no device", endpoint.c_str());
    }
    {
        // The dispatcher thread ggml started for this connection (and any thread the JVM started meanwhile,
        // harmlessly): its abort names this endpoint.
        std::lock_guard<std::mutex> lock(g_mutex);
        for (long id : thread_ids()) {
            if (!before.count(id)) g_dispatcher_of[id] = endpoint;
        }
    }
    ggml_backend_register(s.reg);
    return g_servers.emplace(endpoint, s).first->second;
}
#endif

} // namespace

bool available() {
#ifdef BLOOM_HAVE_RPC
    return true;
#else
    return false;
#endif
}

int protocol_version() {
#ifdef BLOOM_HAVE_RPC
    return RPC_PROTO_MAJOR_VERSION * 10000 + RPC_PROTO_MINOR_VERSION * 100 + RPC_PROTO_PATCH_VERSION;
#else
    return -1;
#endif
}

std::vector<std::string> parse_endpoints(std::string_view list) {
    std::vector<std::string> out;
    for (std::string e : split_list(list)) {
        if (e.empty()) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "the RPC server list '%.*s' has an empty entry", int(list.size()),
                 list.data());
        }
        std::string host;
        int port = 0;
        split_endpoint(e, host, port);
        if (std::find(out.begin(), out.end(), e) != out.end()) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "RPC server %s is named twice", e.c_str());
        }
        out.push_back(e);
    }
    return out;
}

void link::check() const {
    if (lost) fail(BLOOM_ERR_REMOTE, "%s", lost_message().c_str());
}

std::string link::lost_message() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return message_;
}

void link::mark_lost(const std::string & message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!lost) message_ = message;
    lost = true;
}

std::shared_ptr<link> connect(const std::vector<std::string> & endpoints, int timeout_ms) {
#ifndef BLOOM_HAVE_RPC
    fail(BLOOM_ERR_UNSUPPORTED, "this library was built without ggml's RPC backend, which RPC servers need");
#else
    if (timeout_ms <= 0) timeout_ms = k_default_timeout_ms;
    install_abort_hook();
    auto l = std::make_shared<link>();
    std::lock_guard<std::mutex> serial(g_connect_mutex);
    for (const std::string & e : endpoints) {
        std::string host;
        int port = 0;
        split_endpoint(e, host, port);
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            if (g_lost_endpoints.count(e)) {
                fail(BLOOM_ERR_REMOTE, "RPC server %s was lost earlier in this process, and ggml's RPC client cannot "
                     "connect to it again within the same process: restart the process", e.c_str());
            }
        }
        server & s = add_server(e, timeout_ms);
        l->endpoints.push_back(e);
        for (size_t i = 0; i < ggml_backend_reg_dev_count(s.reg); ++i) {
            l->devices.push_back(ggml_backend_reg_dev_get(s.reg, i));
        }
    }
    return l;
#endif
}

bool is_remote(ggml_backend_dev_t dev, std::string * endpoint) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    if (!reg || std::strcmp(ggml_backend_reg_name(reg), "RPC") != 0) return false;
    if (endpoint) *endpoint = ggml_backend_dev_description(dev);  // ggml describes a remote device by its endpoint
    return true;
}

void device_memory(ggml_backend_dev_t dev, size_t * free, size_t * total) {
    *free = *total = 0;
    std::string endpoint;
    if (!is_remote(dev, &endpoint)) {
        ggml_backend_dev_memory(dev, free, total);
        return;
    }
    auto l = std::make_shared<link>();
    l->endpoints.push_back(endpoint);
    executor calls(l);
    try {
        calls.run([&] { ggml_backend_dev_memory(dev, free, total); });
    } catch (const error &) {
        *free = *total = 0;  // lost: nothing to report
    }
}

// ------------------------------------------------------------------------------------------------ executor

executor::executor(std::shared_ptr<link> l) : link_(std::move(l)) {}

executor::~executor() {
    if (!worker_.joinable()) return;
    std::unique_lock<std::mutex> lock(g_mutex);
    if (task_ && !done_) {
        // Blocked in ggml on a lost connection for good: it never comes back to this object.
        lock.unlock();
        worker_.detach();
        return;
    }
    stop_ = true;
    lock.unlock();
    g_cv.notify_all();
    worker_.join();
}

void executor::work() {
    t_throw_on_abort = true;
    std::unique_lock<std::mutex> lock(g_mutex);
    for (;;) {
        g_cv.wait(lock, [this] { return stop_ || (task_ && !done_); });
        if (stop_) return;
        const std::function<void()> * fn = task_;
        lock.unlock();
        std::exception_ptr error;
        try {
            (*fn)();
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        error_ = error;
        done_ = true;
        g_cv.notify_all();
    }
}

void executor::run_remote(const std::function<void()> & fn) {
    if (std::this_thread::get_id() == worker_.get_id()) {
        fn();  // already on the worker (a nested call)
        return;
    }
    std::unique_lock<std::mutex> lock(g_mutex);
    auto lost_endpoint = [this] {
        for (const std::string & e : link_->endpoints) {
            if (g_lost_endpoints.count(e)) return e;
        }
        return std::string();
    };
    if (!link_->lost) {
        const std::string e = lost_endpoint();
        if (!e.empty()) {
            link_->mark_lost(format("RPC server %s was lost (%s): reload the model once the server runs again, in "
                                    "a new process", e.c_str(), g_loss_message.c_str()));
        }
    }
    if (link_->lost) {
        lock.unlock();
        link_->check();
    }
    if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
    task_ = &fn;
    done_ = false;
    error_ = nullptr;
    g_cv.notify_all();
    const uint64_t losses = g_losses;
    g_cv.wait(lock, [&] { return done_ || (g_losses != losses && !lost_endpoint().empty()); });
    if (!done_) {
        // The worker stays in ggml, waiting on the dead connection; task_ stays set so the destructor knows.
        const std::string message = format("lost the connection to RPC server %s during the call (%s); the model "
                                           "cannot be used any more: reload it once the server runs again, in a new "
                                           "process", lost_endpoint().c_str(), g_loss_message.c_str());
        lock.unlock();
        link_->mark_lost(message);
        fail(BLOOM_ERR_REMOTE, "%s", message.c_str());
    }
    task_ = nullptr;
    std::exception_ptr error = error_;
    error_ = nullptr;
    lock.unlock();
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const abort_error & e) {
            // ggml gave up in the middle of an operation: its state for these servers is unknown.
            const std::string message = format("ggml's RPC client failed (%s); the model cannot be used any more",
                                               e.what());
            link_->mark_lost(message);
            fail(BLOOM_ERR_REMOTE, "%s", message.c_str());
        }
    }
}

// ------------------------------------------------------------------------------------------------ server

void serve(const std::string & endpoint, std::string_view devices, int n_threads, const std::string & cache_dir) {
#ifndef BLOOM_HAVE_RPC
    fail(BLOOM_ERR_UNSUPPORTED, "this library was built without ggml's RPC backend, which rpc-server needs");
#else
    std::string host;
    int port = 0;
    split_endpoint(endpoint, host, port);
    in_addr ip{};
    if (::inet_pton(AF_INET, host.c_str(), &ip) != 1) {
        fail(BLOOM_ERR_INVALID_ARGUMENT, "rpc-server: '%s' is not an IPv4 address (ggml's RPC server listens on "
             "one, e.g. 127.0.0.1 or 0.0.0.0)", host.c_str());
    }
    std::vector<ggml_backend_dev_t> devs;
    std::string known;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        if (is_remote(d)) continue;
        known += std::string(known.empty() ? "" : ", ") + ggml_backend_dev_name(d);
        const auto type = ggml_backend_dev_type(d);
        if (devices.empty() && (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU)) {
            devs.push_back(d);
        }
    }
    if (devices.empty() && devs.empty()) {
        devs.push_back(ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU));
    }
    for (const std::string & name : devices.empty() ? std::vector<std::string>() : split_list(devices)) {
        ggml_backend_dev_t d = ggml_backend_dev_by_name(name.c_str());
        if (!d || is_remote(d)) {
            fail(BLOOM_ERR_INVALID_ARGUMENT, "rpc-server: no local device named '%s' (this host has: %s)", name.c_str(),
                 known.c_str());
        }
        devs.push_back(d);
    }
    // Bind once here for a clear error; ggml's server only prints one and returns.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr = ip;
    addr.sin_port = htons(uint16_t(port));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        fail(BLOOM_ERR_IO, "rpc-server: cannot listen on %s: %s", endpoint.c_str(), std::strerror(err));
    }
    ::close(fd);
    if (!cache_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(cache_dir, ec);
        if (ec) {
            fail(BLOOM_ERR_IO, "rpc-server: cannot create the cache directory %s: %s", cache_dir.c_str(),
                 ec.message().c_str());
        }
    }
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    ggml_backend_rpc_start_server(endpoint.c_str(), cache_dir.empty() ? nullptr : cache_dir.c_str(), size_t(n_threads),
                                  devs.size(), devs.data());
    fail(BLOOM_ERR_IO, "rpc-server: ggml's server on %s stopped (%s)", endpoint.c_str(),
         last_ggml_error().empty() ? "see the lines above" : last_ggml_error().c_str());
#endif
}

} // namespace bloom::rpc
