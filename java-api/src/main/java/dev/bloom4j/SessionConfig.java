package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_context_params;
import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Sizes of a {@link BloomSession} or {@link BatchSession}: its KV cache, its evaluation batches, its CPU threads,
 * how it computes attention and how many sequences it holds at once. Defaults come from the native
 * {@code bloom_context_default_params()}.
 * {@snippet :
 * var config = SessionConfig.builder()
 *         .contextSize(4096)                // tokens the KV cache holds
 *         .batchSize(256)                   // most tokens evaluated in one graph
 *         .threads(4)                       // 0 = one per core
 *         .kvCacheType(KvCacheType.F16)     // default AUTO: f32 for f32 weights, else f16
 *         .flashAttention(FlashAttention.ON) // default AUTO: on up to 2049 tokens of context
 *         .build();
 * try (var session = model.newSession(config)) {
 *     // ...
 * }
 * try (var batch = model.newBatchSession(config.toBuilder().maxSequences(16).build())) {
 *     // up to 16 requests decoded together, sharing the 4096 cells of the KV cache
 * }
 * }
 *
 * @param contextSize tokens the KV cache holds; 0 means the model's training context length
 * @param batchSize   most tokens evaluated in one graph; longer inputs are evaluated in chunks of this size
 * @param threads     CPU threads; 0 means one per core
 * @param kvCacheType    element type of the KV cache
 * @param flashAttention whether attention runs as ggml's fused flash-attention operation
 * @param maxSequences   sequences the KV cache holds at once, in [1, 256] ({@code BLOOM_MAX_SEQ}): for a
 *                       {@link BatchSession} the most requests decoded together (their cells come from one pool
 *                       of {@code contextSize}); a {@link BloomSession} uses one
 */
public record SessionConfig(int contextSize, int batchSize, int threads, KvCacheType kvCacheType,
                            FlashAttention flashAttention, int maxSequences) {


    /** Validates every field; the message names the offending one. */
    public SessionConfig {
        if (contextSize < 0) {
            throw new IllegalArgumentException("contextSize must be >= 0 (0 = the model's training length), got "
                    + contextSize);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per core), got " + threads);
        }
        if (kvCacheType == null) {
            throw new IllegalArgumentException("kvCacheType must not be null (KvCacheType.AUTO for the default)");
        }
        if (flashAttention == null) {
            throw new IllegalArgumentException("flashAttention must not be null (FlashAttention.AUTO for the default)");
        }
        if (maxSequences < 1 || maxSequences > bloom_h.BLOOM_MAX_SEQ()) {
            throw new IllegalArgumentException("maxSequences must be in [1, " + bloom_h.BLOOM_MAX_SEQ() + "], got "
                    + maxSequences);
        }
    }

    /** The native defaults. */
    public static SessionConfig defaults() {
        return builder().build();
    }

    /** A builder starting from the native defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder().contextSize(contextSize).batchSize(batchSize).threads(threads).kvCacheType(kvCacheType)
                .flashAttention(flashAttention).maxSequences(maxSequences);
    }

    /** Builds {@link SessionConfig}; every setter is optional and {@link #build()} validates. */
    public static final class Builder {
        private int contextSize;
        private int batchSize;
        private int threads;
        private KvCacheType kvCacheType;
        private FlashAttention flashAttention;
        private int maxSequences;

        private Builder() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = bloom_h.bloom_context_default_params(arena);
                contextSize = bloom_context_params.n_ctx(defaults);
                batchSize = bloom_context_params.n_batch(defaults);
                threads = bloom_context_params.n_threads(defaults);
                kvCacheType = KvCacheType.of(bloom_context_params.type_kv(defaults));
                flashAttention = FlashAttention.of(bloom_context_params.flash_attn(defaults));
                maxSequences = bloom_context_params.n_seq_max(defaults);
            }
        }

        /** Tokens the KV cache holds; 0 = the model's training context length. */
        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** Most tokens evaluated in one graph. */
        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        /** CPU threads; 0 = one per core. */
        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Element type of the KV cache; {@link KvCacheType#AUTO}: f32 for f32 weights, f16 otherwise. */
        public Builder kvCacheType(KvCacheType kvCacheType) {
            this.kvCacheType = kvCacheType;
            return this;
        }

        /** Fused flash attention; {@link FlashAttention#AUTO}: on while the context holds at most 2049 tokens. */
        public Builder flashAttention(FlashAttention flashAttention) {
            this.flashAttention = flashAttention;
            return this;
        }

        /**
         * Sequences the KV cache holds at once (native default 1): for a {@link BatchSession}, the most requests
         * decoded together; set it above 1 there.
         */
        public Builder maxSequences(int maxSequences) {
            this.maxSequences = maxSequences;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid field */
        public SessionConfig build() {
            return new SessionConfig(contextSize, batchSize, threads, kvCacheType, flashAttention, maxSequences);
        }
    }
}
