package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * The failure statuses of the native library, as {@code bloom.h} defines them ({@code BLOOM_ERR_*}).
 *
 * <p>Every {@link BloomException} carries the status it was made from, so a caller that needs to tell
 * failures apart finer than the exception type does can switch on it:
 * {@snippet :
 * try {
 *     BloomModel.load(dir).close();
 * } catch (ModelFormatException e) {
 *     if (e.status() == BloomStatus.UNSUPPORTED) {
 *         System.err.println("valid checkpoint, but this build cannot run it: " + e.nativeMessage());
 *     }
 * }
 * }
 */
public enum BloomStatus {
    /** A NULL handle, an out-of-range value or a bad token id reached the native library. */
    INVALID_ARGUMENT(bloom_h.BLOOM_ERR_INVALID_ARGUMENT()),
    /** A file or directory is missing or unreadable. */
    IO(bloom_h.BLOOM_ERR_IO()),
    /** A file is truncated, corrupt or inconsistent. */
    FORMAT(bloom_h.BLOOM_ERR_FORMAT()),
    /** A valid file this build cannot run (dtype, architecture). */
    UNSUPPORTED(bloom_h.BLOOM_ERR_UNSUPPORTED()),
    /** The native library could not allocate memory. */
    OUT_OF_MEMORY(bloom_h.BLOOM_ERR_OUT_OF_MEMORY()),
    /** More tokens than the context holds. */
    CONTEXT_FULL(bloom_h.BLOOM_ERR_CONTEXT_FULL()),
    /** A caller buffer was too small; the facade retries these itself, so one never escapes normally. */
    BUFFER_TOO_SMALL(bloom_h.BLOOM_ERR_BUFFER_TOO_SMALL()),
    /** A callback asked to stop. */
    CANCELLED(bloom_h.BLOOM_ERR_CANCELLED()),
    /** A native context was entered by two threads at once. */
    BUSY(bloom_h.BLOOM_ERR_BUSY()),
    /** A bug in the native library. */
    INTERNAL(bloom_h.BLOOM_ERR_INTERNAL()),
    /**
     * An RPC server is unreachable, speaks another ggml RPC protocol version, did not answer in time, or was lost
     * while a model used it.
     */
    REMOTE(bloom_h.BLOOM_ERR_REMOTE());

    private final int code;

    BloomStatus(int code) {
        this.code = code;
    }

    /** The negative {@code BLOOM_ERR_*} value. */
    public int code() {
        return code;
    }

    /**
     * The status for a native code; codes this version does not know (a newer library) map to
     * {@link #INTERNAL} rather than failing while reporting a failure.
     */
    static BloomStatus of(int code) {
        for (BloomStatus s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return INTERNAL;
    }

    /** The native library's description of this status ({@code bloom_status_string()}), e.g. "context full". */
    public String description() {
        Native.init();
        return Native.cString(bloom_h.bloom_status_string(code));
    }
}
