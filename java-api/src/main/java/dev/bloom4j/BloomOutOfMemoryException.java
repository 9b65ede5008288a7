package dev.bloom4j;

/**
 * The native library could not allocate memory ({@link BloomStatus#OUT_OF_MEMORY}), typically for weights or a
 * large KV cache. A smaller {@link SessionConfig#contextSize()} often helps.
 * {@snippet :
 * try (var session = model.newSession(SessionConfig.builder().contextSize(32768).build())) {
 *     // ...
 * } catch (BloomOutOfMemoryException e) {
 *     // retry with a smaller context
 * }
 * }
 */
public final class BloomOutOfMemoryException extends BloomException {
    private static final long serialVersionUID = 1L;

    BloomOutOfMemoryException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
