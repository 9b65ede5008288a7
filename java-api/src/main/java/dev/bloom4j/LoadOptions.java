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
 *         .gpuLayers(16)                                      // the last 16 blocks on the GPU, the rest on the CPU
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
 * @param gpuLayers transformer blocks to run on a GPU, the last ones first: -1 (the default) for all of them and
 *                  the output layer, 0 for the CPU only. Where the library has no GPU backend or finds no GPU, the
 *                  model runs on the CPU and the library logs why
 * @param mainGpu   which GPU, counting the {@link Device.Type#GPU} entries of {@link BloomRuntime#devices()} from 0
 * @param splitMode how offloaded weights spread over several GPUs
 * @param progress  receives load progress; {@code null} for none
 */
public record LoadOptions(boolean memoryMap, boolean repack, int gpuLayers, int mainGpu, SplitMode splitMode,
                          ProgressListener progress) {

    /** How the weights of offloaded layers spread over the GPUs of one host ({@code bloom_split_mode}). */
    public enum SplitMode {
        /** All on {@link LoadOptions#mainGpu()}. */
        NONE(bloom_h.BLOOM_SPLIT_NONE()),
        /**
         * Every weight matrix split by rows across all GPUs, in proportion to their memory, through ggml's own split
         * buffer type (CUDA); the rest on {@link LoadOptions#mainGpu()}.
         */
        ROW(bloom_h.BLOOM_SPLIT_ROW()),
        /**
         * Whole blocks, each with its KV cache, spread over all GPUs in order, in proportion to their free memory, the
         * output layer counted as one more unit after the last block (as llama.cpp counts it). ggml's scheduler
         * copies the activations from one GPU to the next.
         * {@link ModelInfo#gpuDevice()} is then {@link LoadOptions#mainGpu()} if it holds layers, else the first GPU
         * that does.
         */
        LAYER(bloom_h.BLOOM_SPLIT_LAYER());

        private final int code;

        SplitMode(int code) {
            this.code = code;
        }

        int code() {
            return code;
        }

        static SplitMode of(int code) {
            return Native.byCode(SplitMode.class, SplitMode::code, code, "split mode");
        }
    }

    /** Validates every field; the message names the offending one. */
    public LoadOptions {
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be -1 (all), 0 (none) or a layer count, got "
                    + gpuLayers);
        }
        if (mainGpu < 0) {
            throw new IllegalArgumentException("mainGpu must be >= 0, got " + mainGpu);
        }
        if (splitMode == null) {
            throw new IllegalArgumentException("splitMode must not be null (SplitMode.NONE for one GPU)");
        }
    }

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
        private int gpuLayers;
        private int mainGpu;
        private SplitMode splitMode;
        private ProgressListener progress;

        private Builder() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = bloom_h.bloom_model_default_params(arena);
                memoryMap = bloom_model_params.use_mmap(defaults);
                repack = bloom_model_params.repack(defaults);
                gpuLayers = bloom_model_params.n_gpu_layers(defaults);
                mainGpu = bloom_model_params.main_gpu(defaults);
                splitMode = SplitMode.of(bloom_model_params.split_mode(defaults));
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

        /** Transformer blocks on a GPU, the last ones first; -1 = all and the output layer, 0 = CPU only. */
        public Builder gpuLayers(int gpuLayers) {
            this.gpuLayers = gpuLayers;
            return this;
        }

        /** Which GPU, counting GPU devices from 0. */
        public Builder mainGpu(int mainGpu) {
            this.mainGpu = mainGpu;
            return this;
        }

        /** How offloaded weights spread over several GPUs. */
        public Builder splitMode(SplitMode splitMode) {
            this.splitMode = splitMode;
            return this;
        }

        /** Receives load progress; {@code null} removes a listener set before. */
        public Builder progress(ProgressListener progress) {
            this.progress = progress;
            return this;
        }

        public LoadOptions build() {
            return new LoadOptions(memoryMap, repack, gpuLayers, mainGpu, splitMode, progress);
        }
    }
}
