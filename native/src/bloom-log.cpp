#include "bloom-log.h"

#include "ggml.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace bloom {

namespace {

struct sink {
    std::mutex          mutex;
    bloom_log_callback  callback  = nullptr;
    void *              user_data = nullptr;
    int32_t             min_level = BLOOM_LOG_LEVEL_WARN;  // a library stays quiet on stderr by default
};

sink & the_sink() {
    static sink s;
    return s;
}

void emit(int32_t level, std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    if (text.empty()) {
        return;
    }
    sink & s = the_sink();
    bloom_log_callback cb;
    void * ud;
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        if (level < s.min_level) {
            return;
        }
        cb = s.callback;
        ud = s.user_data;
    }
    if (cb) {
        cb(level, text.c_str(), ud);
    } else {
        std::fprintf(stderr, "bloom: %s\n", text.c_str());
    }
}

thread_local std::string t_last_ggml_error;

// ggml writes some lines in pieces (GGML_LOG_LEVEL_CONT); they are joined per thread until a newline.
void ggml_sink(enum ggml_log_level level, const char * text, void *) {
    static thread_local std::string pending;
    static thread_local int32_t pending_level = BLOOM_LOG_LEVEL_DEBUG;
    int32_t lvl;
    switch (level) {
        case GGML_LOG_LEVEL_ERROR: lvl = BLOOM_LOG_LEVEL_ERROR; break;
        case GGML_LOG_LEVEL_WARN:  lvl = BLOOM_LOG_LEVEL_WARN;  break;
        case GGML_LOG_LEVEL_INFO:  lvl = BLOOM_LOG_LEVEL_INFO;  break;
        case GGML_LOG_LEVEL_CONT:  lvl = pending_level;         break;
        default:                   lvl = BLOOM_LOG_LEVEL_DEBUG; break;
    }
    pending_level = lvl;
    pending += text ? text : "";
    if (!pending.empty() && pending.back() == '\n') {
        if (lvl == BLOOM_LOG_LEVEL_ERROR) {
            t_last_ggml_error = pending.substr(0, pending.size() - 1);
        }
        emit(lvl, "ggml: " + pending);
        pending.clear();
    }
}

} // namespace

void log(bloom_log_level level, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    emit(level, buf);
}

std::string last_ggml_error() { return t_last_ggml_error; }

void log_install_ggml() {
    static std::once_flag once;
    std::call_once(once, [] { ggml_log_set(ggml_sink, nullptr); });
}

} // namespace bloom

extern "C" BLOOM_API void bloom_log_set(bloom_log_callback callback, int32_t min_level, void * user_data) {
    bloom::log_install_ggml();
    bloom::sink & s = bloom::the_sink();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.callback  = callback;
    s.user_data = user_data;
    s.min_level = min_level;
}
