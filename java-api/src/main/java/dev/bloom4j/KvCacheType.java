package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;

/**
 * Element type of a session's KV cache ({@code bloom_kv_type}), set with {@link SessionConfig.Builder#kvCacheType}.
 * The cache holds every evaluated position's keys and values: {@code 2 * layers * hiddenSize * contextSize}
 * elements, 0.4 GiB in f32 for bloom-560m at 2048 tokens.
 * {@snippet :
 * var config = SessionConfig.builder().kvCacheType(KvCacheType.F16).build();
 * try (var session = model.newSession(config)) {
 *     System.out.println("cache: " + session.kvCacheType());  // F16
 * }
 * }
 */
public enum KvCacheType {
    /**
     * {@link #F32} for a model whose weights are f32 (its logits then match a float32 evaluation to ~1e-7 of their
     * range), {@link #F16} for every other model, as llama.cpp keeps it. {@link BloomSession#kvCacheType()} tells
     * which one a session got.
     */
    AUTO(bloom_h.BLOOM_KV_AUTO()),
    /** Single precision: exact, twice the memory and memory traffic of {@link #F16}. */
    F32(bloom_h.BLOOM_KV_F32()),
    /** Half precision: half the memory; rounds keys and values to 11 significant bits (~2e-4 of the logits). */
    F16(bloom_h.BLOOM_KV_F16());

    private final int code;

    KvCacheType(int code) {
        this.code = code;
    }

    int code() {
        return code;
    }

    static KvCacheType of(int code) {
        return Native.byCode(KvCacheType.class, KvCacheType::code, code, "KV cache type");
    }
}
