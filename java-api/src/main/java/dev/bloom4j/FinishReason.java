package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;
import java.util.Locale;

/**
 * Why a generation ended ({@code bloom_finish_reason}).
 * {@snippet :
 * Completion c = session.generate(prompt, config);
 * if (c.finishReason() == FinishReason.LENGTH) {
 *     System.err.println("truncated at " + config.maxTokens() + " tokens");
 * }
 * }
 */
public enum FinishReason {
    /** {@link GenerationConfig#maxTokens()} tokens were generated. */
    LENGTH(bloom_h.BLOOM_FINISH_LENGTH()),
    /** The model produced its end-of-sequence token: the last of {@link Completion#ids()}, with no text. */
    EOS(bloom_h.BLOOM_FINISH_EOS()),
    /** One of {@link GenerationConfig#stop()} appeared in the output. */
    STOP(bloom_h.BLOOM_FINISH_STOP()),
    /** A listener returned false, or a token stream was closed before its end. */
    CANCELLED(bloom_h.BLOOM_FINISH_CANCELLED()),
    /** The session's KV cache filled up. */
    CONTEXT_FULL(bloom_h.BLOOM_FINISH_CONTEXT_FULL());

    private final int code;

    FinishReason(int code) {
        this.code = code;
    }

    /** The lower-case name used in JSON output, e.g. {@code "eos"}, {@code "context_full"}. */
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT);
    }

    static FinishReason of(int code) {
        return Native.byCode(FinishReason.class, r -> r.code, code, "finish reason");
    }
}
