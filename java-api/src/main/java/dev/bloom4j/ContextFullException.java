package dev.bloom4j;

/**
 * More tokens than a session's KV cache holds ({@link BloomStatus#CONTEXT_FULL}). The message names both the
 * number of tokens asked for and the capacity. Nothing was evaluated when this is thrown.
 * {@snippet :
 * try {
 *     session.evaluate(longPromptIds);
 * } catch (ContextFullException e) {
 *     session.clear(); // or truncate() and retry with fewer tokens
 * }
 * }
 */
public final class ContextFullException extends BloomException {
    private static final long serialVersionUID = 1L;

    ContextFullException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
