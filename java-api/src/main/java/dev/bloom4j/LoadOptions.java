package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_model_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * How {@link BloomModel#load(java.nio.file.Path, LoadOptions)} loads a checkpoint. Defaults come from the native
 * {@code bloom_model_default_params()}.
 * {@snippet :
 * var options = LoadOptions.builder()
 *         .memoryMap(false)                                   // read the weights into memory instead of mapping them
 *         .repack(false)                                      // keep quantized weights in their stored layout
 *         .progress(p -> System.err.printf("\r%3.0f%%", p * 100))
 *         .build();
 * try (var model = BloomModel.load(Path.of("/models/bloom-560m"), options)) {
 *     // ...
 * }
 * }
 *
 * @param memoryMap whether to map the weight files and use them in place rather than reading them
 * @param repack    whether to copy the weight matrices that ggml's CPU backend has interleaved kernels for (Q4_0,
 *                  Q4_K, IQ4_NL, as the CPU's features allow) into that layout at load time, as llama.cpp does: the
 *                  fastest CPU path for those types. Their file pages are released after the copy. The kernels sum
 *                  in another order, so logits move by float rounding (more for quantized activations) against
 *                  {@code repack(false)}
 * @param progress  receives load progress; {@code null} for none
 */
public record LoadOptions(boolean memoryMap, boolean repack, ProgressListener progress) {

    /** The native defaults, no progress listener. */
    public static LoadOptions defaults() {
        return builder().build();
    }

    /** A builder starting from the native defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link LoadOptions}; every setter is optional. */
    public static final class Builder {
        private boolean memoryMap;
        private boolean repack;
        private ProgressListener progress;

        private Builder() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = bloom_h.bloom_model_default_params(arena);
                memoryMap = bloom_model_params.use_mmap(defaults);
                repack = bloom_model_params.repack(defaults);
            }
        }

        /** Map the weight files instead of reading them (native default: true). */
        public Builder memoryMap(boolean memoryMap) {
            this.memoryMap = memoryMap;
            return this;
        }

        /** Repack weights for the CPU's interleaved matrix kernels where it has them (native default: true). */
        public Builder repack(boolean repack) {
            this.repack = repack;
            return this;
        }

        /** Receives load progress; {@code null} removes a listener set before. */
        public Builder progress(ProgressListener progress) {
            this.progress = progress;
            return this;
        }

        public LoadOptions build() {
            return new LoadOptions(memoryMap, repack, progress);
        }
    }
}
