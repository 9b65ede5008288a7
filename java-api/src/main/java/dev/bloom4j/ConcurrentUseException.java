package dev.bloom4j;

/**
 * A native context was entered by two threads at once ({@link BloomStatus#BUSY}). {@link BloomSession} is
 * confined to one thread and checks that in Java, so this exception signals a bug rather than a usage error.
 * {@snippet :
 * catch (ConcurrentUseException e) {
 *     log.error("please report: " + e.nativeMessage());
 * }
 * }
 */
public final class ConcurrentUseException extends BloomException {
    private static final long serialVersionUID = 1L;

    ConcurrentUseException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
