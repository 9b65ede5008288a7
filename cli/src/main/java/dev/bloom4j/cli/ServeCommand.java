package dev.bloom4j.cli;

import dev.bloom4j.FlashAttention;
import dev.bloom4j.KvCacheType;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.server.BloomServer;
import dev.bloom4j.server.ChatTemplate;
import dev.bloom4j.server.ServerConfig;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code bloom serve}: an OpenAI-compatible HTTP server ({@link BloomServer}) with continuous batching, with
 * llama-server's option names where they exist.
 */
@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Serve the model over HTTP with OpenAI's API: POST /v1/completions, POST /v1/chat/completions (JSON or "
                    + "server-sent events with \"stream\": true), GET /v1/models; llama-server's POST /tokenize and "
                    + "POST /detokenize; GET /health (503 while the model loads) and GET /metrics (Prometheus).",
            "Up to --parallel completions decode together in one batch (continuous batching): a new request "
                    + "joins at the next step, and a prompt that starts like a running request's prompt shares its "
                    + "KV cells. They share --ctx-size cells; a request reserves its prompt plus max_tokens of them "
                    + "when it starts, and waits while they are not free; max_tokens is capped at "
                    + "--ctx-size/--parallel less the prompt (llama-server's per-slot context). Up to --queue-size "
                    + "more completions (prompts times n) wait; beyond that the server answers 503 with Retry-After.",
            "Chat messages become a prompt through a template: by default BLOOMZ's plain instruction form (the "
                    + "contents joined by newlines); --chat-template FILE reads another (see the README).",
            "Security: it binds 127.0.0.1 unless --host says otherwise; --api-key makes every request but "
                    + "GET /health carry 'Authorization: Bearer KEY'. There is no TLS: to serve other hosts, put "
                    + "a reverse proxy with TLS in front of it.",
            ""},
        footer = {"", "Examples:",
            "  bloom serve                                   # the demo checkpoint on 127.0.0.1:8080",
            "  bloom serve -m ~/models/bloomz-560m --parallel 8 --ctx-size 8192 --threads 8",
            "  curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' \\",
            "       -d '{\"model\": \"bloom\", \"prompt\": \"The capital of France is\", \"max_tokens\": 16}'"})
final class ServeCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--host", paramLabel = "ADDRESS",
            description = "Address to listen on; 0.0.0.0 = every interface (no TLS: see above). Default: "
                    + "${DEFAULT-VALUE}.")
    String host = "127.0.0.1";

    @Option(names = "--port", paramLabel = "PORT",
            description = "TCP port; 0 = any free port (the log line names it). Default: ${DEFAULT-VALUE}.")
    int port = 8080;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N",
            description = "Most requests decoded together (sequences of the batch). Default: ${DEFAULT-VALUE}.")
    int parallel = 4;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "KV cells shared by all requests (prompt plus generated tokens of those decoding). "
                    + "Default: ${DEFAULT-VALUE}.")
    int contextSize = 4096;

    @Option(names = {"-t", "--threads"}, paramLabel = "N",
            description = "CPU threads; 0 = one per core. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N",
            description = "Most tokens evaluated in one step (llama-server's default n_batch); longer prompts are "
                    + "evaluated in pieces between the other requests' tokens. A smaller value shortens the pause a "
                    + "long prompt causes in the other streams; a larger one lets prompts that arrive together be "
                    + "evaluated together, so their streams decode in step. Default: ${DEFAULT-VALUE}.")
    int batchSize = 2048;

    @Option(names = "--kv-cache", paramLabel = "TYPE",
            description = "KV cache element type: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    KvCacheType kvCacheType;

    @Option(names = {"-fa", "--flash-attn"}, paramLabel = "MODE",
            description = "Fused flash attention: ${COMPLETION-CANDIDATES}. ON by default here, unlike the other "
                    + "commands' AUTO: a server's pool has many cells, and with flash attention a batch attends "
                    + "sequence group by sequence group (ALiBi distances beyond 2048 are rounded to f16, as in "
                    + "llama.cpp). Default: ${DEFAULT-VALUE}.")
    FlashAttention flashAttention;

    static final class Key {
        @Option(names = "--api-key", paramLabel = "KEY",
                description = "Require 'Authorization: Bearer KEY' on every request but GET /health.")
        String key;

        @Option(names = "--api-key-file", paramLabel = "FILE",
                description = "As --api-key, the key read from FILE's first line (keeps it out of `ps`).")
        Path file;
    }

    @ArgGroup(exclusive = true)
    Key apiKey;

    @Option(names = "--alias", paramLabel = "NAME",
            description = "The model id /v1/models lists and responses carry. Default: the checkpoint's file or "
                    + "directory name.")
    String alias;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "A JSON chat template (role patterns with {content}, separator, generation_prompt, stop); "
                    + "default: BLOOMZ's plain instruction form.")
    Path chatTemplate;

    @Option(names = "--queue-size", paramLabel = "N",
            description = "Requests that may wait beyond those decoding; more get 503. Default: ${DEFAULT-VALUE}.")
    int queueSize = 64;

    @Option(names = "--max-body", paramLabel = "BYTES",
            description = "Largest request body; larger ones get 413. Default: ${DEFAULT-VALUE}.")
    long maxBody = 4L << 20;

    @Option(names = "--default-max-tokens", paramLabel = "N",
            description = "max_tokens of a chat request that sets none (a completion request without one gets "
                    + "OpenAI's 16). Default: ${DEFAULT-VALUE}.")
    int defaultMaxTokens = 256;

    @Override
    public Integer call() throws Exception {
        if (parallel < 1) {
            throw new ParameterException(spec.commandLine(), "--parallel must be at least 1, got " + parallel);
        }
        if (contextSize < 1) {
            throw new ParameterException(spec.commandLine(), "--ctx-size must be at least 1, got " + contextSize);
        }
        ServerConfig config;
        try {
            SessionConfig session = SessionConfig.builder().contextSize(contextSize).maxSequences(parallel)
                    .threads(threads).batchSize(batchSize).kvCacheType(kvCacheType).flashAttention(flashAttention)
                    .build();
            config = ServerConfig.builder()
                    .host(host)
                    .port(port)
                    .session(session)
                    .apiKey(key())
                    .modelName(alias != null ? alias
                            : modelOptions.model != null ? modelOptions.displayName() : "bloom-demo")
                    .chatTemplate(chatTemplate == null ? ChatTemplate.bloomz() : ChatTemplate.read(chatTemplate))
                    .queueSize(queueSize)
                    .maxBodyBytes(maxBody)
                    .defaultMaxTokens(defaultMaxTokens)
                    .build();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (!InetAddress.getByName(host).isLoopbackAddress()) {
            main.err.println("warning: listening on " + host + ": the server has no TLS" + (config.apiKey() == null
                    ? " and no API key (--api-key)" : "") + "; anyone who reaches this address can use it. Put a "
                    + "reverse proxy with TLS in front of it for other hosts.");
        }
        BloomServer server = BloomServer.start(config, () -> modelOptions.load(main));
        Thread hook = new Thread(server::close, "bloom4j-server-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            server.awaitReady();
        } catch (Exception e) {
            server.close();
            throw e;
        }
        main.err.println("bloom serve: listening on http://" + host + ":" + server.port() + " (model "
                + config.modelName() + ", " + parallel + " parallel, " + contextSize + " KV cells); Ctrl-C stops");
        try {
            server.awaitShutdown();
        } catch (InterruptedException e) {
            // Stopped by whoever runs this command in-process (a test, an embedding application).
            server.close();
            Runtime.getRuntime().removeShutdownHook(hook);
        }
        return 0;
    }

    private String key() throws java.io.IOException {
        if (apiKey == null) {
            return null;
        }
        if (apiKey.key != null) {
            return apiKey.key;
        }
        String text = Files.readString(apiKey.file, StandardCharsets.UTF_8);
        String first = text.lines().findFirst().orElse("").strip();
        if (first.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--api-key-file " + apiKey.file + " is empty");
        }
        return first;
    }
}
