package dev.bloom4j;

/**
 * A session was used by two threads at once ({@link BloomStatus#BUSY}): a {@link BloomSession} serves any thread,
 * but one at a time. The call that met another thread inside the session is refused before it changes anything;
 * the message names both threads. Hand the session from one thread to the next (an executor, a coroutine), give
 * each thread its own session, or share one KV cache through a {@link BatchSession}.
 * {@snippet :
 * try {
 *     session.evaluate(ids);
 * } catch (ConcurrentUseException e) {
 *     // another thread is generating on this session right now
 * }
 * }
 */
public final class ConcurrentUseException extends BloomException {
    private static final long serialVersionUID = 1L;

    ConcurrentUseException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
