package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.HubConfig;
import dev.bloom4j.HubModels;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.checkpoint.DemoCheckpoint;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import dev.bloom4j.server.ServerConfig;
import java.io.Console;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code --model} and how a command loads it; shared by every command as a picocli mixin. */
final class ModelOptions {

    /** Printed on stderr whenever the demo checkpoint stands in for a real one. */
    static final String DEMO_NOTICE = "Using the built-in demo checkpoint (random weights): output is gibberish";

    /** Printed on stderr for a checkpoint `bloom init-random` wrote. */
    static final String RANDOM_NOTICE = "note: this checkpoint has random weights (bloom init-random): output is "
            + "gibberish";

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = {
                "Hugging Face BLOOM checkpoint directory (config.json, tokenizer.json and model.safetensors or a "
                        + "sharded model.safetensors.index.json; F32, F16 or BF16 weights), or a GGUF file as "
                        + "llama.cpp or `bloom convert` writes it (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                        + "Q2_K...Q6_K).",
                "Or a Hugging Face hub name, org/name[@revision][:quant] (bigscience/bloom-560m, "
                        + "someone/bloom-560m-GGUF:q4_k_m), taken from the hub cache Python's transformers uses "
                        + "($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub) and fetched into it when "
                        + "missing ($HF_ENDPOINT, $HF_TOKEN; none with HF_HUB_OFFLINE=1). An existing path wins.",
                "Default: a tiny demo checkpoint with random weights, created on first use in "
                        + "$XDG_CACHE_HOME/bloom4j or ~/.cache/bloom4j (its output is gibberish)."})
    String model;

    @Option(names = "--no-mmap",
            description = "Read the weight files into memory instead of mapping them (mapping is the default).")
    boolean noMmap;

    @Option(names = "--no-repack",
            description = "Keep quantized weights in their stored layout instead of repacking Q4_0/Q4_K/IQ4_NL "
                    + "matrices for the CPU's interleaved kernels at load time (repacking is the default, as in "
                    + "llama.cpp; it is faster and moves logits by rounding).")
    boolean noRepack;

    @Option(names = "--gpu-layers", paramLabel = "N",
            description = "Transformer blocks to run on a GPU, the last ones first: -1 = all of them and the output "
                    + "layer, 0 = CPU only. Without a GPU (a CPU-only library, or no GPU or driver) the model runs on "
                    + "the CPU and a warning says why. `bloom devices` lists the GPUs. Default: ${DEFAULT-VALUE}.")
    int gpuLayers;

    @Option(names = "--main-gpu", paramLabel = "I",
            description = "Which GPU, counting the GPU lines of `bloom devices` from 0. Default: ${DEFAULT-VALUE}.")
    int mainGpu;

    @Option(names = "--split-mode", paramLabel = "MODE",
            description = "How offloaded weights spread over several GPUs: ${COMPLETION-CANDIDATES} (ROW: every "
                    + "matrix split by rows across all GPUs, through ggml's split buffers; LAYER: whole blocks and "
                    + "their KV cache spread over the GPUs in proportion to their free memory). Default: ${DEFAULT-VALUE}.")
    LoadOptions.SplitMode splitMode;

    @Option(names = "--rpc", paramLabel = "HOST:PORT", split = ",",
            description = {
                "ggml RPC servers (`bloom rpc-server`, or llama.cpp's rpc-server of the same ggml version) whose "
                        + "devices join this host's GPUs, e.g. --rpc 10.0.0.2:50052,10.0.0.3:50052. With "
                        + "--split-mode layer the blocks and their KV cache spread over the host's GPUs and the "
                        + "servers' devices (--tensor-split sets the shares); --gpu-layers N sends the last N blocks "
                        + "there and keeps the first ones on this CPU. `bloom devices --rpc ...` lists the servers' "
                        + "devices. The protocol has no authentication and no encryption: trusted networks only."})
    List<String> rpc = new ArrayList<>();

    @Option(names = "--tensor-split", paramLabel = "P", split = ",",
            description = "With --split-mode layer: the share of the offloaded blocks each GPU takes, one proportion "
                    + "per GPU in order (this host's GPUs, then each --rpc server's devices), as llama.cpp's "
                    + "--tensor-split, e.g. 3,1. Default: in proportion to their free memory.")
    List<Double> tensorSplit = new ArrayList<>();

    @Option(names = "--rpc-timeout", paramLabel = "MS",
            description = "How long to wait for each --rpc server to accept the connection and answer the handshake, "
                    + "in milliseconds. Default: ${DEFAULT-VALUE}.")
    long rpcTimeoutMs = 5000;

    /** Loads the model, with a progress bar on a terminal, and says so when it is the demo. */
    BloomModel load(Main main) throws IOException {
        Path directory = model == null ? null : resolve(main, model);
        if (directory == null) {
            directory = DemoCheckpoint.ensure(DemoCheckpoint.defaultCacheDirectory());
            main.err.println(DEMO_NOTICE);
        } else if (DemoCheckpoint.isDemo(directory)) {
            main.err.println(DEMO_NOTICE);
        } else if (RandomCheckpoint.isMarkedRandom(directory)) {
            main.err.println(RANDOM_NOTICE);
        }
        LoadOptions.Builder options = LoadOptions.builder().memoryMap(!noMmap).repack(!noRepack)
                .gpuLayers(gpuLayers).mainGpu(mainGpu).splitMode(splitMode).rpcServers(rpc).tensorSplit(tensorSplit)
                .rpcTimeout(Duration.ofMillis(rpcTimeoutMs));
        Console console = System.console();
        ProgressBar bar = null;
        if (console != null && console.isTerminal()) {
            bar = new ProgressBar(main.err, "loading " + (model != null && !model.equals(directory.toString())
                    ? model : directory.getFileName()));
            options.progress(bar::update);
        }
        try {
            return BloomModel.load(directory, options.build());
        } finally {
            if (bar != null) {
                bar.clear();
            }
        }
    }

    /**
     * A path, or the checkpoint directory or GGUF file of a hub name, fetched into the hub cache with the progress
     * on stderr when the cache lacks it.
     */
    static Path resolve(Main main, String model) {
        DownloadProgress progress = new DownloadProgress(main.err, model);
        try {
            return HubModels.of(HubConfig.fromEnvironment(main.env)).resolve(model, progress);
        } finally {
            progress.finish();
        }
    }

    /** The name a server announces for this model: the hub name as given, else the file or directory name. */
    String displayName() {
        if (model == null) {
            return null;
        }
        return !Files.exists(Path.of(model)) && HubModels.isHubName(model) ? model : ServerConfig.modelNameOf(Path.of(model));
    }
}
