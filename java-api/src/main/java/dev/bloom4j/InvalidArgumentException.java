package dev.bloom4j;

/**
 * The native library rejected an argument ({@link BloomStatus#INVALID_ARGUMENT}). The Java API validates
 * arguments before calling into native code and reports them as {@link IllegalArgumentException}, so this
 * exception means a check only the native side can make failed, for example invalid UTF-8 in a tokenizer input.
 * {@snippet :
 * try {
 *     model.tokenize(text);
 * } catch (InvalidArgumentException e) {
 *     System.err.println("rejected: " + e.nativeMessage());
 * }
 * }
 */
public final class InvalidArgumentException extends BloomException {
    private static final long serialVersionUID = 1L;

    InvalidArgumentException(BloomStatus status, String message, String nativeMessage, Throwable cause) {
        super(status, message, nativeMessage, cause);
    }
}
