package dev.bloom4j.server;

import dev.bloom4j.BloomModel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A token's own text and bytes, as OpenAI's logprobs report them: BLOOM's tokenizer is byte-level (GPT-2's
 * ByteLevel alphabet: each byte is spelled by one printable character, a space as {@code "Ġ"}), so the vocabulary
 * spelling maps back to the token's bytes; the text is those bytes as UTF-8, a split character as U+FFFD. Cached
 * per id; safe from any thread.
 */
final class TokenText {
    /** Character of the ByteLevel alphabet to the byte it spells; -1 where none. */
    private static final int[] BYTE_OF = new int[512];

    static {
        java.util.Arrays.fill(BYTE_OF, -1);
        // Printable Latin-1 bytes spell themselves; the other 68 bytes take the characters from U+0100 on, in order.
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_OF[printable ? b : next++] = b;
        }
    }

    /** One token's bytes and their text. */
    record Piece(String text, byte[] bytes) {}

    private final BloomModel model;
    private final ConcurrentHashMap<Integer, Piece> cache = new ConcurrentHashMap<>();

    TokenText(BloomModel model) {
        this.model = model;
    }

    Piece of(int id) {
        return cache.computeIfAbsent(id, this::compute);
    }

    private Piece compute(int id) {
        String spelling = model.tokenStrings(new int[] {id}).getFirst();
        byte[] bytes = bytesOf(spelling);
        return new Piece(new String(bytes, StandardCharsets.UTF_8), bytes);
    }

    /** The bytes a ByteLevel spelling stands for; characters outside the alphabet (none in BLOOM's) as UTF-8. */
    static byte[] bytesOf(String spelling) {
        var out = new java.io.ByteArrayOutputStream(spelling.length());
        spelling.codePoints().forEach(c -> {
            int b = c < BYTE_OF.length ? BYTE_OF[c] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8));
            }
        });
        return out.toByteArray();
    }
}
