package dev.bloom4j.cli;

import dev.bloom4j.BloomRuntime;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code bloom rpc-server}: serves this host's CPU or GPUs to other hosts through ggml's RPC server. */
@Command(
        name = "rpc-server",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Serve this host's CPU or GPUs to bloom4j (or llama.cpp) on other hosts through ggml's RPC backend: a "
                    + "client started with --rpc HOST:PORT adds them to its own devices and, with --split-mode "
                    + "layer, keeps some of a model's blocks and their KV cache here. The server holds no model "
                    + "files: the client sends the weights when it loads (--cache keeps them here for the next load). "
                    + "It serves one client at a time and runs until it is stopped (Ctrl-C).",
            "",
            "The protocol has neither authentication nor encryption: anyone who can reach the port can use the "
                    + "devices and read or write their memory. The default, 127.0.0.1, serves this host only; bind "
                    + "another address on a trusted network only.",
            ""},
        footer = {"", "Examples:",
            "  bloom rpc-server --port 50052                       # this host's GPUs, else its CPU; loopback",
            "  bloom rpc-server --host 10.0.0.2 --device CPU --threads 32 --cache /var/cache/bloom4j-rpc",
            "  bloom generate --model bloom-7b1.gguf --rpc 10.0.0.2:50052 --split-mode layer --gpu-layers 20"})
final class RpcServerCommand implements Callable<Integer> {

    static final String INSECURE_WARNING = "warning: ggml's RPC protocol has neither authentication nor encryption: "
            + "anyone who can reach %s:%d can use these devices and read their memory. Serve trusted networks only.";

    @ParentCommand
    Main main;

    @Option(names = "--host", paramLabel = "IPV4",
            description = "The address to listen on (IPv4): 127.0.0.1 for this host only, 0.0.0.0 for every "
                    + "interface. Default: ${DEFAULT-VALUE}.")
    String host = "127.0.0.1";

    @Option(names = "--port", paramLabel = "PORT", description = "The TCP port. Default: ${DEFAULT-VALUE}.")
    int port = 50052;

    @Option(names = "--device", paramLabel = "NAME", split = ",",
            description = "The devices to serve, by the names `bloom devices` prints (CPU, CUDA0, ...); several "
                    + "separated by commas. Default: every GPU of this host, else the CPU.")
    List<String> devices = new ArrayList<>();

    @Option(names = {"-t", "--threads"}, paramLabel = "N",
            description = "CPU threads for the served CPU (0 = all cores). Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "Keep the large tensors clients send in DIR, so that a client loading the same weights "
                    + "again sends only their hashes (created if missing). Default: no cache.")
    Path cache;

    @Override
    public Integer call() {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("--port must be in [1, 65535], not " + port);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("--threads must be >= 0 (0 = all cores), not " + threads);
        }
        if (!host.startsWith("127.")) {
            main.err.println(String.format(INSECURE_WARNING, host, port));
        }
        main.err.printf("bloom rpc-server: ggml RPC protocol %s, listening on %s:%d%n",
                BloomRuntime.rpcProtocolVersion().orElse("(none)"), host, port);
        main.err.flush();
        BloomRuntime.serveRpc(host, port, devices, threads, cache);  // returns only by failing
        return 1;
    }
}
