package dev.bloom4j;

/**
 * An operation was cancelled by a callback ({@link BloomStatus#CANCELLED}), for example a model load whose
 * {@link ProgressListener} threw; that exception is the {@linkplain #getCause() cause}.
 * {@snippet :
 * var options = LoadOptions.builder()
 *         .progress(p -> { if (Thread.interrupted()) throw new IllegalStateException("interrupted"); })
 *         .build();
 * try (var model = BloomModel.load(dir, options)) {
 *     // ...
 * } catch (CancelledException e) {
 *     // the load was abandoned; nothing to free
 * }
 * }
 */
public final class CancelledException extends BloomException {
    private static final long serialVersionUID = 1L;

    CancelledException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
