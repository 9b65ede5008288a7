package dev.bloom4j;

import java.util.Objects;

/**
 * The root of the exceptions bloom4j throws for failures reported by (or checked on behalf of) the native
 * library. The hierarchy is sealed: a {@code switch} over it is exhaustive.
 *
 * <p>{@link #status()} is the native status and {@link #nativeMessage()} the native library's own detail
 * ({@code bloom_last_error()}), verbatim; {@link #getMessage()} joins the status description and that detail.
 * {@snippet :
 * try (var model = BloomModel.load(dir)) {
 *     // ...
 * } catch (BloomException e) {
 *     switch (e) {
 *         case ModelNotFoundException m -> System.err.println("no checkpoint at " + dir + ": " + m.getMessage());
 *         case ModelFormatException f -> System.err.println("broken checkpoint: " + f.nativeMessage());
 *         default -> throw e;
 *     }
 * }
 * }
 *
 * <p>Misuse of the Java API itself (a closed handle, a session used from the wrong thread, an invalid
 * {@link GenerationConfig} value) is reported with the JDK's {@link IllegalStateException} and
 * {@link IllegalArgumentException} instead.
 */
public abstract sealed class BloomException extends RuntimeException
        permits InvalidArgumentException, ModelNotFoundException, ModelDownloadException, ModelFormatException,
        BloomOutOfMemoryException, ContextFullException, CancelledException, ConcurrentUseException,
        RemoteDeviceException,
        BloomInternalException {

    private final BloomStatus status;
    private final String nativeMessage;

    BloomException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(message, cause);
        this.status = Objects.requireNonNull(status, "status");
        this.nativeMessage = nativeMessage == null ? "" : nativeMessage;
    }

    /** The native status this exception stands for. */
    public BloomStatus status() {
        return status;
    }

    /**
     * The native library's detail message ({@code bloom_last_error()}) exactly as it reported it; empty when the
     * failure was detected in Java before any native call.
     */
    public String nativeMessage() {
        return nativeMessage;
    }
}
