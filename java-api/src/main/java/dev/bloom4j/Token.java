package dev.bloom4j;

import java.util.Objects;

/**
 * One generated token as a {@linkplain BloomSession#stream token stream} delivers it.
 * {@snippet :
 * try (Stream<Token> tokens = session.stream("Hello", GenerationConfig.greedy())) {
 *     tokens.forEach(t -> System.out.print(t.text()));
 * }
 * }
 *
 * @param id   the token id; {@code -1} for a last element that carries only text held back until the end (the
 *             beginning of a stop string that never completed)
 * @param text the text this token completes: never a split character, possibly empty (the token holds the first
 *             bytes of a multi-byte character, or text is held back while it may be the start of a stop string
 *             and comes with a later token)
 */
public record Token(int id, String text) {
    public Token {
        Objects.requireNonNull(text, "text");
    }
}
