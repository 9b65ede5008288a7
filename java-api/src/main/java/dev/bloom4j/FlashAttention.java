package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * How a session evaluates attention ({@code bloom_flash_attn}), set with {@link SessionConfig.Builder#flashAttention}.
 * <ul>
 *   <li>Flash attention: one fused ggml operation with an online softmax; it never stores the
 *       {@code positions x tokens x heads} score matrix and is the faster path, notably for long prompts. It takes
 *       the ALiBi distances between positions in half precision, which holds every distance up to 2048 exactly;
 *       farther apart they round (to even numbers up to 4096, and so on), as in llama.cpp.</li>
 *   <li>Without it: two matrix products around a softmax, ALiBi distances in single precision at any length.</li>
 * </ul>
 * Both compute the same function; with an f32 {@link KvCacheType} they agree to float32 rounding.
 */
public enum FlashAttention {
    /** {@link #ON} while the context holds at most 2049 tokens (every ALiBi distance exact), {@link #OFF} above. */
    AUTO(bloom_h.BLOOM_FLASH_ATTN_AUTO()),
    /** Two matrix products around a softmax. */
    OFF(bloom_h.BLOOM_FLASH_ATTN_OFF()),
    /** The fused flash-attention operation, at any context size. */
    ON(bloom_h.BLOOM_FLASH_ATTN_ON());

    private final int code;

    FlashAttention(int code) {
        this.code = code;
    }

    int code() {
        return code;
    }

    static FlashAttention of(int code) {
        return Native.byCode(FlashAttention.class, FlashAttention::code, code, "flash-attention mode");
    }
}
