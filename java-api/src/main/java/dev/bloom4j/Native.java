package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_LONG;

import dev.bloom4j.bindings.NativeLibrary;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_log_callback;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.function.ToIntFunction;

/**
 * The one place that talks to the generated bindings about cross-cutting concerns: loading the library, routing
 * its log, turning statuses into exceptions and the "buffer too small, here is the size" retry protocol.
 */
final class Native {

    private static final Logger NATIVE_LOG = System.getLogger("dev.bloom4j.native");

    private static volatile boolean initialized;

    private Native() {}

    /**
     * Loads the library and routes its log, once, before any other bloom_* call. Not a static initializer: a
     * failed load must surface as the loader's own error (which lists every place it looked) on every attempt,
     * not as a NoClassDefFoundError after the first.
     *
     * @throws dev.bloom4j.bindings.NativeLibraryLoadError no usable libbloom.so was found
     */
    static void init() {
        if (initialized) {
            return;
        }
        synchronized (Native.class) {
            if (!initialized) {
                NativeLibrary.load();
                installLogCallback();
                initialized = true;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ logging

    /**
     * Routes native log lines to {@code System.Logger "dev.bloom4j.native"}. The threshold handed to the native
     * side is the most verbose level that logger accepts now, so filtered-out debug lines are never formatted
     * and never cross the boundary; configure logging before the first bloom4j call to change it.
     */
    private static void installLogCallback() {
        int minLevel;
        if (NATIVE_LOG.isLoggable(Level.DEBUG)) {
            minLevel = bloom_h.BLOOM_LOG_LEVEL_DEBUG();
        } else if (NATIVE_LOG.isLoggable(Level.INFO)) {
            minLevel = bloom_h.BLOOM_LOG_LEVEL_INFO();
        } else if (NATIVE_LOG.isLoggable(Level.WARNING)) {
            minLevel = bloom_h.BLOOM_LOG_LEVEL_WARN();
        } else {
            minLevel = bloom_h.BLOOM_LOG_LEVEL_ERROR();
        }
        // The stub must outlive every native thread that may log (ggml workers included): the global arena.
        MemorySegment stub = bloom_log_callback.allocate(Native::onLog, Arena.global());
        bloom_h.bloom_log_set(stub, minLevel, MemorySegment.NULL);
    }

    private static void onLog(int level, MemorySegment text, MemorySegment userData) {
        // An exception escaping an upcall kills the JVM; a log line is never worth that.
        try {
            Level javaLevel;
            if (level >= bloom_h.BLOOM_LOG_LEVEL_ERROR()) {
                javaLevel = Level.ERROR;
            } else if (level >= bloom_h.BLOOM_LOG_LEVEL_WARN()) {
                javaLevel = Level.WARNING;
            } else if (level >= bloom_h.BLOOM_LOG_LEVEL_INFO()) {
                javaLevel = Level.INFO;
            } else {
                javaLevel = Level.DEBUG;
            }
            if (NATIVE_LOG.isLoggable(javaLevel)) {
                NATIVE_LOG.log(javaLevel, cString(text));
            }
        } catch (Throwable ignored) {
            // nowhere left to report it
        }
    }

    // ------------------------------------------------------------------------------------------ statuses

    /** Throws the exception for a failed status; returns normally for BLOOM_OK. */
    static void check(int status) {
        if (status != bloom_h.BLOOM_OK()) {
            throw exception(status);
        }
    }

    /**
     * The exception for a failed status, with {@code bloom_last_error()} read right away: it is only valid until
     * the next bloom_* call on this thread.
     */
    static BloomException exception(int status) {
        String detail = cString(bloom_h.bloom_last_error());
        String description = cString(bloom_h.bloom_status_string(status));
        String message = detail.isEmpty() ? description : description + ": " + detail;
        return exception(BloomStatus.of(status), message, detail, null);
    }

    /** Maps a status to its exception type: the only such mapping in bloom4j. */
    static BloomException exception(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        return switch (status) {
            case INVALID_ARGUMENT -> new InvalidArgumentException(status, message, nativeMessage, cause);
            case IO -> new ModelNotFoundException(status, message, nativeMessage, cause);
            case FORMAT, UNSUPPORTED -> new ModelFormatException(status, message, nativeMessage, cause);
            case OUT_OF_MEMORY -> new BloomOutOfMemoryException(status, message, nativeMessage, cause);
            case CONTEXT_FULL -> new ContextFullException(status, message, nativeMessage, cause);
            case CANCELLED -> new CancelledException(status, message, nativeMessage, cause);
            case BUSY -> new ConcurrentUseException(status, message, nativeMessage, cause);
            case REMOTE -> new RemoteDeviceException(status, message, nativeMessage, cause);
            case BUFFER_TOO_SMALL, INTERNAL -> new BloomInternalException(status, message, nativeMessage, cause);
        };
    }

    /**
     * The constant of an enum mirroring a C enum whose native code is {@code code}; an INTERNAL error naming
     * {@code what} when the library reports a value this side does not know.
     */
    static <E extends Enum<E>> E byCode(Class<E> type, ToIntFunction<E> codeOf, int code, String what) {
        for (E e : type.getEnumConstants()) {
            if (codeOf.applyAsInt(e) == code) {
                return e;
            }
        }
        throw javaSide(BloomStatus.INTERNAL, "the native library reported unknown " + what + " " + code);
    }

    /** An exception for a condition Java detects before calling native code (no native detail). */
    static BloomException javaSide(BloomStatus status, String message) {
        return exception(status, status.description() + ": " + message, "", null);
    }

    // ------------------------------------------------------------------------------------------ buffers

    /** A native call following bloom.h's buffer convention: (buf, capacity, out_len, ...) -> status. */
    @FunctionalInterface
    interface SizedCall {
        int call(MemorySegment buffer, long capacity, MemorySegment outLength);
    }

    /**
     * Runs a buffer-filling call, growing the buffer to the size the native side reports on
     * BLOOM_ERR_BUFFER_TOO_SMALL, and returns the filled part (element count times element size).
     *
     * @param guess element capacity to try first; a good guess makes this a single call
     */
    static MemorySegment sized(Arena arena, ValueLayout element, long guess, SizedCall call) {
        long capacity = Math.max(1, guess);
        MemorySegment length = arena.allocate(C_LONG);
        // Two growths suffice for a deterministic callee; more means the reported size is wrong.
        for (int attempt = 0; attempt < 3; attempt++) {
            MemorySegment buffer = arena.allocate(element, capacity);
            int status = call.call(buffer, capacity, length);
            long n = length.get(C_LONG, 0);
            if (status == bloom_h.BLOOM_ERR_BUFFER_TOO_SMALL()) {
                if (n <= capacity) {
                    throw javaSide(BloomStatus.INTERNAL,
                            "buffer too small for " + capacity + " elements, but the native side asked for " + n);
                }
                capacity = n;
                continue;
            }
            check(status);
            return buffer.asSlice(0, n * element.byteSize());
        }
        throw javaSide(BloomStatus.INTERNAL, "buffer size kept growing past " + capacity + " elements");
    }

    /** {@link #sized} for UTF-8 text. */
    static String sizedString(Arena arena, long guessBytes, SizedCall call) {
        return utf8(sized(arena, ValueLayout.JAVA_BYTE, guessBytes, call));
    }

    // ------------------------------------------------------------------------------------------ strings

    /** A NUL-terminated static or borrowed C string; the bindings hand them out as unbounded segments. */
    static String cString(MemorySegment s) {
        if (s.equals(MemorySegment.NULL)) {
            return "";
        }
        return s.reinterpret(Long.MAX_VALUE).getString(0, StandardCharsets.UTF_8);
    }

    /** UTF-8 bytes of a pointer + length pair. */
    static String utf8(MemorySegment bytes) {
        return new String(bytes.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /**
     * Copies text as UTF-8 without a terminator (bloom.h takes pointer + length): the segment's byte size is the
     * length. Empty text still gets a real address, because NULL with length 0 is not what the callee expects.
     */
    static MemorySegment utf8(Arena arena, String text) {
        byte[] bytes = utf8Bytes(text);
        return bytes.length == 0
                ? arena.allocate(1).asSlice(0, 0)
                : arena.allocateFrom(ValueLayout.JAVA_BYTE, bytes);
    }

    /**
     * Strict UTF-8 encoding: {@link String#getBytes} would silently turn an unpaired surrogate into '?', and the
     * model would then see text the caller never wrote.
     */
    static byte[] utf8Bytes(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(String.format(
                        "text has an unpaired surrogate U+%04X at index %d, so it has no UTF-8 form", (int) c, i));
            }
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
