// Internal error type: user errors travel as bloom::error up to the C API, which turns them into a status
// and the thread-local last-error message. GGML_ASSERT stays for programmer errors only.
#pragma once

#include "bloom.h"

#include <cstdarg>
#include <stdexcept>
#include <string>

namespace bloom {

class error : public std::runtime_error {
public:
    error(bloom_status status, std::string message) : std::runtime_error(std::move(message)), status_(status) {}
    bloom_status status() const { return status_; }

private:
    bloom_status status_;
};

// printf-style message builder for errors and logs.
std::string format(const char * fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void fail(bloom_status status, const char * fmt, ...) __attribute__((format(printf, 2, 3)));

// Thread-local last error (bloom_last_error()).
void set_last_error(const std::string & message);
const char * last_error();

} // namespace bloom
