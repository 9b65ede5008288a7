package dev.bloom4j;

/**
 * A checkpoint is truncated, corrupt or inconsistent ({@link BloomStatus#FORMAT}), or valid but not runnable by
 * this build ({@link BloomStatus#UNSUPPORTED}: a dtype or architecture it does not support). {@link #status()}
 * tells the two apart; the message names the file and the offending tensor or field.
 * {@snippet :
 * try (var model = BloomModel.load(dir)) {
 *     // ...
 * } catch (ModelFormatException e) {
 *     System.err.println((e.status() == BloomStatus.UNSUPPORTED ? "unsupported: " : "corrupt: ") + e.nativeMessage());
 * }
 * }
 */
public final class ModelFormatException extends BloomException {
    private static final long serialVersionUID = 1L;

    ModelFormatException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
