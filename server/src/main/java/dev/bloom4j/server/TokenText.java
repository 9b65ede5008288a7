package dev.bloom4j.server;

import dev.bloom4j.BloomModel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A token's own bytes and text, as OpenAI's logprobs report them: {@link BloomModel#tokenBytes(int)}, the text
 * those bytes as UTF-8 (a split character as U+FFFD). Cached per id; safe from any thread.
 */
final class TokenText {

    /** One token's bytes and their text. */
    record Piece(String text, byte[] bytes) {}

    private final BloomModel model;
    private final ConcurrentHashMap<Integer, Piece> cache = new ConcurrentHashMap<>();

    TokenText(BloomModel model) {
        this.model = model;
    }

    Piece of(int id) {
        return cache.computeIfAbsent(id, i -> {
            byte[] bytes = model.tokenBytes(i);
            return new Piece(new String(bytes, StandardCharsets.UTF_8), bytes);
        });
    }
}
