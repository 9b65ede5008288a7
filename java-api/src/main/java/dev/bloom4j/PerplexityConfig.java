package dev.bloom4j;

/**
 * How {@link BloomSession#perplexity(String, PerplexityConfig)} cuts a long text into windows and which tokens it
 * scores. The defaults reproduce {@code llama-perplexity -c 512} on a BLOOM model; see {@link Perplexity} for the
 * exact definition.
 * {@snippet :
 * var config = PerplexityConfig.builder().contextSize(1024).build();           // llama-perplexity -c 1024
 * var strided = PerplexityConfig.builder().contextSize(768).stride(256).build();
 * try (var session = model.newSession(SessionConfig.builder().contextSize(config.contextSize()).build())) {
 *     Perplexity p = session.perplexity(text, config);
 *     System.out.printf("PPL = %.4f +/- %.5f%n", p.value(), p.standardError());
 * }
 * }
 *
 * @param contextSize tokens per window ({@code llama-perplexity}'s {@code -c}); at least 3, and at most the
 *                    session's {@link BloomSession#contextSize()}
 * @param stride      0 for llama.cpp's standard method: disjoint windows, each scoring its second half. Otherwise
 *                    the strided method ({@code --ppl-stride}): windows start every {@code stride} tokens and each
 *                    scores its last {@code stride} tokens; in [1, contextSize - 1]
 * @param addBos      put the BOS token before the text and (standard method) in place of each window's first
 *                    token, as llama.cpp does for a vocabulary whose {@code add_bos} flag is set. llama.cpp leaves
 *                    that flag off for BLOOM's tokenizer (type {@code gpt2}, pre-tokenizer {@code bloom}) unless the
 *                    GGUF file sets {@code tokenizer.ggml.add_bos_token}, so the default is {@code false}
 * @param maxChunks   evaluate at most this many windows ({@code --chunks}); 0 for all of them
 */
public record PerplexityConfig(int contextSize, int stride, boolean addBos, int maxChunks) {

    /** {@code llama-perplexity}'s default context size. */
    public static final int DEFAULT_CONTEXT_SIZE = 512;

    /** Validates every field; the message names the offending one. */
    public PerplexityConfig {
        if (contextSize < 3) {
            // Below 3 the standard method scores no token at all.
            throw new IllegalArgumentException("contextSize must be >= 3, got " + contextSize);
        }
        if (stride < 0 || stride >= contextSize) {
            throw new IllegalArgumentException("stride must be 0 (standard method) or in [1, contextSize - 1 = "
                    + (contextSize - 1) + "], got " + stride);
        }
        if (maxChunks < 0) {
            throw new IllegalArgumentException("maxChunks must be >= 0 (0 = all), got " + maxChunks);
        }
    }

    /** llama.cpp's standard method over windows of {@value #DEFAULT_CONTEXT_SIZE} tokens, no BOS, every window. */
    public static PerplexityConfig defaults() {
        return builder().build();
    }

    /** A builder starting from {@link #defaults()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder().contextSize(contextSize).stride(stride).addBos(addBos).maxChunks(maxChunks);
    }

    /** Whether windows overlap and score their last {@link #stride()} tokens. */
    public boolean strided() {
        return stride > 0;
    }

    /**
     * Windows evaluated for a text of {@code tokenCount} tokens (BOS included): {@code floor(T / n)} for the
     * standard method, {@code ceil((T - n) / s)} for the strided one, at most {@link #maxChunks()} when set; 0 when
     * the text is shorter than {@code 2n}, which perplexity refuses.
     */
    public int chunkCount(int tokenCount) {
        if (tokenCount < 2L * contextSize) {
            return 0;
        }
        int chunks = strided() ? (tokenCount - contextSize + stride - 1) / stride : tokenCount / contextSize;
        return maxChunks > 0 ? Math.min(chunks, maxChunks) : chunks;
    }

    /** Tokens scored per window: {@code n - floor(n/2) - 1} for the standard method, {@code s} for the strided one. */
    public int scoredTokensPerChunk() {
        return strided() ? stride : contextSize - contextSize / 2 - 1;
    }

    /** Builds {@link PerplexityConfig}; every setter is optional and {@link #build()} validates. */
    public static final class Builder {
        private int contextSize = DEFAULT_CONTEXT_SIZE;
        private int stride;
        private boolean addBos;
        private int maxChunks;

        private Builder() {}

        /** Tokens per window. */
        public Builder contextSize(int contextSize) {
            this.contextSize = contextSize;
            return this;
        }

        /** 0 = the standard method; otherwise the distance between window starts. */
        public Builder stride(int stride) {
            this.stride = stride;
            return this;
        }

        /** Whether to add the BOS token as llama.cpp does when a vocabulary asks for it. */
        public Builder addBos(boolean addBos) {
            this.addBos = addBos;
            return this;
        }

        /** Most windows to evaluate; 0 = all. */
        public Builder maxChunks(int maxChunks) {
            this.maxChunks = maxChunks;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid field */
        public PerplexityConfig build() {
            return new PerplexityConfig(contextSize, stride, addBos, maxChunks);
        }
    }
}
