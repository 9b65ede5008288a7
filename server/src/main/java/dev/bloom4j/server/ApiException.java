package dev.bloom4j.server;

/**
 * A request the server refuses, answered with an HTTP status and OpenAI's error object
 * {@code {"error": {"message", "type", "param", "code"}}}. Thrown by request parsing and checks; never escapes
 * as a 500.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;

    ApiException(int status, String type, String message, String param, String code) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about one request field ({@code param} may be null). */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", message, param, null);
    }

    /** 400 invalid_request_error with a machine-readable code, e.g. context_length_exceeded. */
    static ApiException invalid(String param, String message, String code) {
        return new ApiException(400, "invalid_request_error", message, param, code);
    }
}
