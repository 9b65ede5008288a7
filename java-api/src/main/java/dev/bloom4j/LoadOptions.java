package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_model_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

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
 * @param mainGpu   which GPU, counting from 0 the GPUs the load uses: the host's ({@link Device.Type#GPU} entries of
 *                  {@link BloomRuntime#devices()}), then the devices of {@link #rpcServers()}
 * @param splitMode how offloaded weights spread over several GPUs
 * @param progress  receives load progress; {@code null} for none
 * @param rpcServers ggml RPC servers ({@code "host:port"}, each a {@code bloom rpc-server} or llama.cpp
 *                  {@code rpc-server} of the same ggml RPC protocol) whose devices join this model's GPUs after the
 *                  host's own; empty (the default) for none. With {@link SplitMode#LAYER} the blocks and their KV
 *                  cache spread over the host's GPUs and every server's devices; {@link #gpuLayers()} blocks go to
 *                  them, the first ones stay on the local CPU. The protocol has neither authentication nor
 *                  encryption: trusted networks only. A server that cannot be reached, speaks another protocol
 *                  version or does not answer within {@link #rpcTimeout()} fails the load with a
 *                  {@link RemoteDeviceException} naming it; one lost later fails the call that used it, and the model
 *                  can then only be closed (see {@link RemoteDeviceException})
 * @param tensorSplit with {@link SplitMode#LAYER}: the share of the offloaded blocks each GPU takes, one non-negative
 *                  proportion per GPU in order (the host's GPUs, then each server's devices in {@link #rpcServers()}
 *                  order), as llama.cpp's {@code --tensor-split}; missing entries take 0. Empty (the default): in
 *                  proportion to the devices' free memory
 * @param rpcTimeout bound on reaching each RPC server and on its handshake (default 5 s)
 */
public record LoadOptions(boolean memoryMap, boolean repack, int gpuLayers, int mainGpu, SplitMode splitMode,
                          ProgressListener progress, List<String> rpcServers, List<Double> tensorSplit,
                          Duration rpcTimeout) {

    private static final Pattern HOST_PORT = Pattern.compile("[^\\s,:]+:\\d{1,5}");

    /** How the weights of offloaded layers spread over several GPUs ({@code bloom_split_mode}). */
    public enum SplitMode {
        /** All on {@link LoadOptions#mainGpu()}. */
        NONE(bloom_h.BLOOM_SPLIT_NONE()),
        /**
         * Every weight matrix split by rows across all GPUs, in proportion to their memory, through ggml's own split
         * buffer type (CUDA); the rest on {@link LoadOptions#mainGpu()}.
         */
        ROW(bloom_h.BLOOM_SPLIT_ROW()),
        /**
         * Whole blocks, each with its KV cache, spread over all GPUs in order (the host's, then the devices of
         * {@link LoadOptions#rpcServers()}), in proportion to {@link LoadOptions#tensorSplit()} or else to their free
         * memory, the output layer counted as one more unit after the last block (as llama.cpp counts it). ggml's
         * scheduler copies the activations from one device to the next (over the network to a server).
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
        rpcServers = List.copyOf(rpcServers == null ? List.of() : rpcServers);
        for (String server : rpcServers) {
            if (!HOST_PORT.matcher(server).matches()) {
                throw new IllegalArgumentException("rpcServers: '" + server + "' is not host:port");
            }
        }
        if (rpcServers.stream().distinct().count() != rpcServers.size()) {
            throw new IllegalArgumentException("rpcServers names a server twice: " + rpcServers);
        }
        if (!rpcServers.isEmpty() && splitMode == SplitMode.ROW) {
            throw new IllegalArgumentException("splitMode ROW splits matrices over the GPUs of one host; with "
                    + "rpcServers use SplitMode.LAYER");
        }
        tensorSplit = List.copyOf(tensorSplit == null ? List.of() : tensorSplit);
        for (int i = 0; i < tensorSplit.size(); i++) {
            double share = tensorSplit.get(i);
            if (!(share >= 0) || Double.isInfinite(share)) {
                throw new IllegalArgumentException("tensorSplit[" + i + "] is " + share
                        + ": proportions are finite and >= 0");
            }
        }
        if (!tensorSplit.isEmpty() && tensorSplit.stream().allMatch(d -> d == 0)) {
            throw new IllegalArgumentException("tensorSplit gives every GPU a share of 0: " + tensorSplit);
        }
        if (rpcTimeout == null || rpcTimeout.isNegative() || rpcTimeout.isZero()
                || rpcTimeout.toMillis() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("rpcTimeout must be positive (at most ~24 days), got " + rpcTimeout);
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
        private List<String> rpcServers = List.of();
        private List<Double> tensorSplit = List.of();
        private Duration rpcTimeout;

        private Builder() {
            Native.init();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment defaults = bloom_h.bloom_model_default_params(arena);
                memoryMap = bloom_model_params.use_mmap(defaults);
                repack = bloom_model_params.repack(defaults);
                gpuLayers = bloom_model_params.n_gpu_layers(defaults);
                mainGpu = bloom_model_params.main_gpu(defaults);
                splitMode = SplitMode.of(bloom_model_params.split_mode(defaults));
                rpcTimeout = Duration.ofMillis(bloom_model_params.rpc_timeout_ms(defaults));
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

        /**
         * @see LoadOptions#rpcServers()
         * @param servers {@code "host:port"} of each server, e.g. {@code "192.168.1.7:50052"}
         */
        public Builder rpcServers(List<String> servers) {
            this.rpcServers = servers;
            return this;
        }

        /** @see LoadOptions#rpcServers() */
        public Builder rpcServers(String... servers) {
            return rpcServers(List.of(servers));
        }

        /** @see LoadOptions#tensorSplit() */
        public Builder tensorSplit(List<Double> proportions) {
            this.tensorSplit = proportions;
            return this;
        }

        /** @see LoadOptions#tensorSplit() */
        public Builder tensorSplit(double... proportions) {
            return tensorSplit(java.util.Arrays.stream(proportions).boxed().toList());
        }

        /** @see LoadOptions#rpcTimeout() */
        public Builder rpcTimeout(Duration timeout) {
            this.rpcTimeout = timeout;
            return this;
        }

        public LoadOptions build() {
            return new LoadOptions(memoryMap, repack, gpuLayers, mainGpu, splitMode, progress, rpcServers,
                    tensorSplit, rpcTimeout);
        }
    }
}
