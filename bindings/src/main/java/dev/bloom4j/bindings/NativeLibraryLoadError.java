package dev.bloom4j.bindings;

import java.io.Serial;
import java.util.List;

/**
 * Thrown by {@link NativeLibrary#load()} when no usable libbloom.so was found. The message lists every place that
 * was tried, in order, and why each one failed (missing, wrong ABI version, the dynamic loader's error text), and
 * {@link #attempts()} holds the same lines.
 *
 * <pre>{@code
 * try {
 *     NativeLibrary.load();
 * } catch (NativeLibraryLoadError e) {
 *     e.attempts().forEach(System.err::println);
 * }
 * }</pre>
 */
public final class NativeLibraryLoadError extends UnsatisfiedLinkError {

    @Serial
    private static final long serialVersionUID = 1L;

    /** Not serialised: the message carries the same text. */
    private final transient List<String> attempts;

    NativeLibraryLoadError(String message, List<String> attempts) {
        super(message);
        this.attempts = List.copyOf(attempts);
    }

    /** One line per place tried, {@code "<place>: <why it was not used>"}, in the order they were tried. */
    public List<String> attempts() {
        return attempts == null ? List.of() : attempts;
    }
}
