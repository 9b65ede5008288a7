package dev.bloom4j;

/**
 * A bug in the native library or in this facade ({@link BloomStatus#INTERNAL}, or a status this version does
 * not know). Please report {@link #nativeMessage()}.
 * {@snippet :
 * catch (BloomInternalException e) {
 *     System.err.println("bloom4j bug, please report: " + e.nativeMessage());
 * }
 * }
 */
public final class BloomInternalException extends BloomException {
    private static final long serialVersionUID = 1L;

    BloomInternalException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
