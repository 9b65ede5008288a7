package dev.bloom4j.cli;

import dev.bloom4j.FlashAttention;
import dev.bloom4j.KvCacheType;
import dev.bloom4j.SessionConfig;
import picocli.CommandLine.Option;

/** Sizes of the inference session: a picocli mixin shared by the commands that evaluate tokens. */
final class SessionOptions {

    @Option(names = "--threads", paramLabel = "N",
            description = "CPU threads for evaluation; 0 = one per core. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--ctx", paramLabel = "TOKENS",
            description = "Context size: tokens the KV cache holds (prompt plus generated text); 0 = the model's "
                    + "training length. Default: ${DEFAULT-VALUE}.")
    Integer contextSize;

    @Option(names = "--batch", paramLabel = "TOKENS",
            description = "Most tokens evaluated in one pass; longer prompts are evaluated in chunks of this size. "
                    + "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--kv-cache", paramLabel = "TYPE",
            description = "KV cache element type: ${COMPLETION-CANDIDATES}. AUTO: F32 for a model with f32 weights "
                    + "(exact), F16 otherwise (half the memory). Default: ${DEFAULT-VALUE}.")
    KvCacheType kvCacheType;

    @Option(names = "--flash-attn", paramLabel = "MODE",
            description = "Fused flash attention: ${COMPLETION-CANDIDATES}. It takes ALiBi distances in half "
                    + "precision, exact up to 2048 positions; AUTO turns it on while --ctx is at most 2049. "
                    + "Default: ${DEFAULT-VALUE}.")
    FlashAttention flashAttention;

    /** The session configuration; {@code fallbackContextSize} applies when {@code --ctx} has no value. */
    SessionConfig config(int fallbackContextSize) {
        return SessionConfig.builder()
                .threads(threads)
                .batchSize(batchSize)
                .contextSize(contextSize != null ? contextSize : fallbackContextSize)
                .kvCacheType(kvCacheType)
                .flashAttention(flashAttention)
                .build();
    }
}
