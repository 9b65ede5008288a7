package dev.bloom4j;

/**
 * A checkpoint file or directory is missing or unreadable ({@link BloomStatus#IO}). The message names the
 * path the native loader looked at.
 * {@snippet :
 * try (var model = BloomModel.load(Path.of("/models/bloom-560m"))) {
 *     // ...
 * } catch (ModelNotFoundException e) {
 *     System.err.println(e.getMessage()); // e.g. "I/O error: model directory not found: /models/bloom-560m"
 * }
 * }
 */
public final class ModelNotFoundException extends BloomException {
    private static final long serialVersionUID = 1L;

    ModelNotFoundException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
