// Logging: one process-wide sink for bloom's own lines and ggml's (bloom_log_set).
#pragma once

#include "bloom.h"

#include <string>

namespace bloom {

void log(bloom_log_level level, const char * fmt, ...) __attribute__((format(printf, 2, 3)));

// Points ggml's logger at ours; idempotent, called before any ggml work.
void log_install_ggml();

// The last error line ggml logged on this thread (without "ggml: " and the newline), for error messages that
// explain a failure ggml reported only in its log. Empty when none.
std::string last_ggml_error();

} // namespace bloom

#define BLOOM_LOG_DEBUG(...) ::bloom::log(BLOOM_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define BLOOM_LOG_INFO(...)  ::bloom::log(BLOOM_LOG_LEVEL_INFO,  __VA_ARGS__)
#define BLOOM_LOG_WARN(...)  ::bloom::log(BLOOM_LOG_LEVEL_WARN,  __VA_ARGS__)
