package dev.bloom4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code bloom bench-serve}: a load generator for an OpenAI-compatible completion server ({@code bloom serve},
 * llama.cpp's {@code llama-server}, ...). C clients stream completions at the same time; what each client sees is
 * measured and summarised per run, so that two servers on the same machine can be compared with the same load.
 *
 * <p>A run, for one C: untimed warm-up requests one after another, then C clients, each sending its next request as
 * soon as its previous one has ended (a closed loop), until M requests were sent. Every request is a streamed
 * {@code POST /v1/completions} with greedy decoding and {@code ignore_eos} (an extension llama-server and
 * {@code bloom serve} accept), so that every request generates {@code max_tokens} tokens whatever the weights. Each
 * request gets a prompt of its own (random words, from a fixed seed), so no server can answer one from the KV cache
 * another left behind.
 * {@snippet lang=shell :
 * ./bloom bench-serve --url http://127.0.0.1:8080 --concurrency 1,4,16 --prompt-tokens 128 --max-tokens 64
 * }
 * The SSE stream is read line by line here, not through a client library: a chunk's arrival time is when its
 * {@code data:} line was read.
 */
@Command(
        name = "bench-serve",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Load an OpenAI-compatible completion server (bloom serve, llama.cpp's llama-server, ...) with C "
                    + "clients that stream completions at the same time, and report the latencies they see.",
            "For each C in --concurrency: --warmup untimed requests one after another, then C clients, each "
                    + "sending its next request as soon as its previous one has ended, until --requests requests "
                    + "were sent. Each is POST URL/v1/completions with stream, stream_options.include_usage, "
                    + "temperature 0 and ignore_eos (an extension llama-server and bloom serve accept), so every "
                    + "request generates --max-tokens tokens. Each request has a prompt of its own (common words "
                    + "drawn with a fixed seed, one token each), so no server can reuse the KV cache another "
                    + "request left; the same prompts (--seed) with every server.",
            "Columns: C; requests; errors (a status other than 200, an error in the stream, or a stream that "
                    + "broke or ended without data: [DONE]); prompt = mean prompt tokens as the server counted "
                    + "them; tokens = completion tokens of the successful requests (the server's usage chunk, "
                    + "else the chunks with text); TTFT = time to the first chunk with text, from sending the "
                    + "request; ITL = inter-token latency, the gaps between chunks with text, all requests pooled "
                    + "(a server that holds back an incomplete UTF-8 character makes one gap of two tokens); "
                    + "p50/p99 interpolated between ranks; tok/s = tokens / wall time of the run (the aggregate "
                    + "throughput); stream tok/s = mean over requests of (tokens-1) / (last chunk - first chunk), "
                    + "the decode speed one client sees; wall s = first request sent to last stream ended.",
            "Exit status 1 when the server cannot be reached, a warm-up request fails, or every request of a run "
                    + "failed; failures of some requests are counted, and the first is printed on stderr.",
            ""},
        footer = {"", "Examples:",
            "  bloom serve --model m.gguf --parallel 16 --ctx-size 4096 --threads 2 &",
            "  bloom bench-serve --concurrency 1,4,16 --prompt-tokens 128 --max-tokens 64",
            "  bloom bench-serve --url http://127.0.0.1:8081 --concurrency 8 --json",
            "",
            "The same load on llama.cpp's server (-np slots, -c cells of KV cache for all):",
            "  llama-server -m m.gguf -np 16 -c 4096 -t 2 --port 8081",
            "  bloom bench-serve --url http://127.0.0.1:8081 --concurrency 1,4,16",
            "",
            "benchmarks/scripts/compare-serve.sh runs both servers on one model file, in",
            "turn, with the same load, and writes a table."})
final class BenchServeCommand implements Callable<Integer> {

    /** Tokens a warm-up request generates: enough for a prefill and a few decode steps. */
    static final int WARMUP_TOKENS = 8;

    /**
     * Common English words that are each one token with their leading space, both for BLOOM's tokenizer and for
     * the 1000-token one of random-weight checkpoints ({@code bloom init-random}), checked with
     * {@code bloom tokenize}: a prompt of P of them, each after a space, is P tokens.
     */
    static final String[] WORDS = {
        "the", "of", "and", "to", "in", "was", "for", "on", "as", "by", "at", "we", "an", "up", "so", "no", "same",
        "us", "world", "every"};

    private static final ObjectMapper JSON = new ObjectMapper();

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Option(names = "--url", paramLabel = "URL", defaultValue = "http://127.0.0.1:8080",
            description = "The server's base address; requests go to URL/v1/completions (a URL ending in /v1 "
                    + "gets /completions only). Default: ${DEFAULT-VALUE}.")
    String url;

    @Option(names = "--concurrency", paramLabel = "C", split = ",", splitSynopsisLabel = ",", defaultValue = "1",
            description = "Clients streaming at the same time, comma-separated: one run per value, in order "
                    + "(e.g. 1,4,16). The server needs at least C slots (llama-server -np, bloom serve --parallel) "
                    + "for C streams to decode together. Default: ${DEFAULT-VALUE}.")
    List<Integer> concurrency;

    @Option(names = "--requests", paramLabel = "M",
            description = "Requests per run, warm-up not counted; the same M for every C. Default: 4 per client, "
                    + "4*C, so that every client sends four requests one after another.")
    Integer requests;

    @Option(names = "--prompt-tokens", paramLabel = "P",
            description = "Length of each request's prompt: P common English words, each one token for BLOOM's "
                    + "tokenizer (the prompt column says how many the server counted). Default: 128.")
    Integer promptTokens;

    @Option(names = "--prompt", paramLabel = "TEXT",
            description = "Send TEXT as the prompt of every request instead (not with --prompt-tokens). A server "
                    + "that caches prompts (llama-server does) then skips most of the prefill: TTFT shrinks.")
    String promptText;

    @Option(names = "--seed", paramLabel = "SEED", defaultValue = "1234",
            description = "Seed of the prompts: the same seed, the same prompts, in every run of the command and "
                    + "with every server. A server that keeps finished prompts in a cache (llama-server does, "
                    + "--cache-ram) answers a second command with the same seed from it, which shortens TTFT: "
                    + "restart the server or change the seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", defaultValue = "64",
            description = "Tokens each request generates (max_tokens; with ignore_eos, exactly N). "
                    + "Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--model", paramLabel = "NAME",
            description = "The request's model field. Default: the first model GET URL/v1/models lists; none if "
                    + "that fails.")
    String model;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Sent as Authorization: Bearer KEY (llama-server --api-key, bloom serve --api-key).")
    String apiKey;

    @Option(names = "--warmup", paramLabel = "K", defaultValue = "1",
            description = "Untimed requests before each run, one after another, with a prompt like the run's and "
                    + WARMUP_TOKENS + " tokens (at most -n); 0 = none. A failed warm-up stops the command. "
                    + "Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "600",
            description = "Most seconds to wait for a request's response to begin (connecting: at most 10). "
                    + "Default: ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json",
            description = "Print no table; print one JSON object per run instead, one per line: {\"url\", "
                    + "\"model\", \"concurrency\", \"requests\", \"errors\", \"prompt_tokens_mean\", \"max_tokens\", "
                    + "\"completion_tokens\", \"wall_s\", \"ttft_ms_p50\", \"ttft_ms_p99\", \"itl_ms_p50\", "
                    + "\"itl_ms_p99\", \"tokens_per_s\", \"stream_tokens_per_s_mean\", \"first_error\"} (null where "
                    + "no request succeeded; first_error null when none failed).")
    boolean json;

    /**
     * What one request saw: its first and last chunk with text, in nanoseconds from sending it (-1: none), the
     * gaps between its chunks with text, and the server's token counts (prompt -1: not reported). {@code error}
     * is null for a request that succeeded; a failed one carries nothing else, since no figure uses it.
     */
    record RequestResult(String error, long firstTokenNanos, long lastTokenNanos, int completionTokens,
                         int promptTokens, double[] gapsMillis) {
        static RequestResult failed(String error) {
            return new RequestResult(error, -1, -1, 0, -1, new double[0]);
        }

        boolean ok() {
            return error == null;
        }

        /** Decode speed this client saw, tokens after the first over the time they took; NaN when undefined. */
        double streamTokensPerSecond() {
            long span = lastTokenNanos - firstTokenNanos;
            return completionTokens > 1 && span > 0 ? (completionTokens - 1) / (span / 1e9) : Double.NaN;
        }
    }

    /** One run's figures; NaN where no request succeeded. */
    record Report(int concurrency, int requests, int errors, double promptTokensMean, int completionTokens,
                  double wallSeconds, double ttftMillisP50, double ttftMillisP99, double itlMillisP50,
                  double itlMillisP99, double tokensPerSecond, double streamTokensPerSecondMean, String firstError) {

        static Report of(int concurrency, List<RequestResult> results, long wallNanos) {
            List<RequestResult> ok = results.stream().filter(RequestResult::ok).toList();
            String firstError = results.stream().filter(r -> !r.ok()).map(RequestResult::error).findFirst()
                    .orElse(null);
            double[] ttft = ok.stream().filter(r -> r.firstTokenNanos() >= 0)
                    .mapToDouble(r -> r.firstTokenNanos() / 1e6).sorted().toArray();
            double[] gaps = ok.stream().flatMapToDouble(r -> Arrays.stream(r.gapsMillis())).sorted().toArray();
            int tokens = ok.stream().mapToInt(RequestResult::completionTokens).sum();
            double wall = wallNanos / 1e9;
            return new Report(concurrency, results.size(), results.size() - ok.size(),
                    ok.stream().filter(r -> r.promptTokens() >= 0).mapToInt(RequestResult::promptTokens).average()
                            .orElse(Double.NaN),
                    tokens, wall,
                    percentile(ttft, 0.50), percentile(ttft, 0.99), percentile(gaps, 0.50), percentile(gaps, 0.99),
                    ok.isEmpty() || wall <= 0 ? Double.NaN : tokens / wall,
                    ok.stream().mapToDouble(RequestResult::streamTokensPerSecond).filter(v -> !Double.isNaN(v))
                            .average().orElse(Double.NaN),
                    firstError);
        }
    }

    @Override
    public Integer call() throws IOException {
        validate();
        URI completions = endpoint("completions");
        try (HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build()) {
            String modelName = model != null ? model : discoverModel(http);
            Target target = new Target(http, completions, apiKey, Duration.ofSeconds(timeoutSeconds));
            int prompts = 0; // prompt index over the whole command: no prompt is sent twice
            boolean anyRunFailed = false;
            boolean headerPrinted = json;
            for (int clients : concurrency) {
                for (int w = 0; w < warmup; w++) {
                    RequestResult r = target.complete(body(modelName, prompt(prompts++),
                            Math.min(WARMUP_TOKENS, maxTokens)));
                    if (!r.ok()) {
                        throw new IOException("the warm-up request to " + completions + " failed: " + r.error());
                    }
                }
                if (!headerPrinted) {
                    printTableHeader(completions, modelName);
                    headerPrinted = true;
                }
                int count = requests != null ? requests : 4 * clients;
                int first = prompts;
                prompts += count;
                Report report = run(target, clients, count, i -> body(modelName, prompt(first + i), maxTokens));
                if (json) {
                    Json.print(main.out, jsonObject(report, modelName));
                } else {
                    main.out.println(tableRow(report));
                    main.out.flush();
                }
                if (report.errors() == report.requests()) {
                    anyRunFailed = true;
                    main.err.printf(Locale.ROOT, "error: every request of the run with C=%d failed; the first: %s%n",
                            clients, report.firstError());
                } else if (report.errors() > 0) {
                    main.err.printf(Locale.ROOT, "note: %d of %d requests of the run with C=%d failed; the first: "
                            + "%s%n", report.errors(), report.requests(), clients, report.firstError());
                }
                main.err.flush();
            }
            return anyRunFailed ? 1 : 0;
        }
    }

    /** Values that make no run; usage errors (exit 2). */
    private void validate() {
        if (concurrency.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--concurrency needs at least one value");
        }
        for (int c : concurrency) {
            if (c < 1) {
                throw new ParameterException(spec.commandLine(), "--concurrency values must be >= 1, got " + c);
            }
        }
        if (requests != null && requests < 1) {
            throw new ParameterException(spec.commandLine(), "--requests must be >= 1, got " + requests);
        }
        if (promptText != null && promptTokens != null) {
            throw new ParameterException(spec.commandLine(), "--prompt and --prompt-tokens exclude each other");
        }
        if (promptTokens != null && promptTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--prompt-tokens must be >= 1, got " + promptTokens);
        }
        if (promptText != null && promptText.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--prompt must not be empty");
        }
        if (maxTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be >= 1, got " + maxTokens);
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must be >= 0, got " + warmup);
        }
        if (timeoutSeconds < 1) {
            throw new ParameterException(spec.commandLine(), "--timeout must be >= 1 second, got " + timeoutSeconds);
        }
        URI base;
        try {
            base = new URI(url);
        } catch (URISyntaxException e) {
            throw new ParameterException(spec.commandLine(), "--url is not a URL: " + e.getMessage());
        }
        if (base.getScheme() == null || !base.getScheme().matches("(?i)https?") || base.getHost() == null) {
            throw new ParameterException(spec.commandLine(), "--url needs an http:// or https:// address with a "
                    + "host, e.g. http://127.0.0.1:8080; got '" + url + "'");
        }
    }

    private int promptTokens() {
        return promptTokens != null ? promptTokens : 128;
    }

    /** URL/v1/NAME, or URL/NAME for a URL that already ends in /v1. */
    private URI endpoint(String name) {
        String base = url.replaceAll("/+$", "");
        return URI.create(base.endsWith("/v1") ? base + "/" + name : base + "/v1/" + name);
    }

    private String prompt(int index) {
        return promptText != null ? promptText : promptWords(promptTokens(), seed, index);
    }

    /**
     * Prompt {@code index} of the seed: {@code count} words drawn from {@link #WORDS}, each after a space, so
     * {@code count} tokens. The index is mixed into the seed, not added to it, so that nearby seeds give
     * different prompts.
     */
    static String promptWords(int count, long seed, int index) {
        SplittableRandom random = new SplittableRandom(seed ^ (index * 0x9E3779B97F4A7C15L));
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < count; i++) {
            text.append(' ').append(WORDS[random.nextInt(WORDS.length)]);
        }
        return text.toString();
    }

    /** The request body: greedy, streamed, with the usage chunk, past the end-of-sequence token. */
    static String body(String model, String prompt, int maxTokens) {
        Map<String, Object> o = new LinkedHashMap<>();
        if (model != null) {
            o.put("model", model);
        }
        o.put("prompt", prompt);
        o.put("max_tokens", maxTokens);
        o.put("temperature", 0);
        o.put("stream", true);
        o.put("stream_options", Map.of("include_usage", true));
        o.put("ignore_eos", true);
        return Json.toString(o);
    }

    /**
     * The first id of GET /v1/models, or null when the server lists none or has no such endpoint. A server that
     * cannot be reached at all stops the command here.
     */
    private String discoverModel(HttpClient http) throws IOException {
        URI models = endpoint("models");
        HttpRequest.Builder request = HttpRequest.newBuilder(models).timeout(Duration.ofSeconds(timeoutSeconds))
                .GET();
        if (apiKey != null) {
            request.header("Authorization", "Bearer " + apiKey);
        }
        HttpResponse<String> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IOException("cannot reach the server at " + url + ": " + describe(e)
                    + " (is it running? --url says where)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (response.statusCode() != 200) {
            return null;
        }
        try {
            JsonNode id = JSON.readTree(response.body()).path("data").path(0).path("id");
            return id.isTextual() ? id.asText() : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The server and how to reach it; {@link #complete} is called from many threads at once. */
    record Target(HttpClient http, URI completions, String apiKey, Duration timeout) {

        /** One streamed request, timed; failures are results, never exceptions. */
        RequestResult complete(String body) {
            HttpRequest.Builder builder = HttpRequest.newBuilder(completions)
                    .timeout(timeout)
                    .header("Content-Type", "application/json")
                    .header("Accept", "text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
            if (apiKey != null) {
                builder.header("Authorization", "Bearer " + apiKey);
            }
            long start = System.nanoTime();
            HttpResponse<InputStream> response;
            try {
                response = http.send(builder.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                return RequestResult.failed(describe(e));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return RequestResult.failed("interrupted");
            }
            try (InputStream in = response.body()) {
                if (response.statusCode() != 200) {
                    String text = new String(in.readNBytes(300), StandardCharsets.UTF_8).strip();
                    return RequestResult.failed("HTTP " + response.statusCode() + (text.isEmpty() ? "" : ": " + text));
                }
                return readStream(new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)), start);
            } catch (IOException e) {
                return RequestResult.failed("the response broke off: " + describe(e));
            }
        }

        /** Reads SSE lines until data: [DONE]; times are taken as each line arrives. */
        private static RequestResult readStream(BufferedReader reader, long start) {
            long first = -1;
            long last = -1;
            int textChunks = 0;
            int usageTokens = -1;
            int promptTokens = -1;
            List<Double> gaps = new ArrayList<>();
            String line;
            try {
                while ((line = reader.readLine()) != null) {
                    long now = System.nanoTime() - start;
                    if (line.isEmpty() || line.startsWith(":")) {
                        continue; // the blank line ending an event; a comment (llama-server's keep-alive ping)
                    }
                    if (line.startsWith("error:")) {
                        return RequestResult.failed("the stream carried an error: " + line.substring(6).strip());
                    }
                    if (!line.startsWith("data:")) {
                        continue; // event:, id:, retry: fields
                    }
                    String data = line.substring(5).strip();
                    if (data.equals("[DONE]")) {
                        double[] gapsMillis = gaps.stream().mapToDouble(Double::doubleValue).toArray();
                        return new RequestResult(null, first, last,
                                usageTokens >= 0 ? usageTokens : textChunks, promptTokens, gapsMillis);
                    }
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.has("error")) {
                        return RequestResult.failed("the stream carried an error: " + chunk.get("error"));
                    }
                    if (!chunkText(chunk).isEmpty()) {
                        textChunks++;
                        if (first < 0) {
                            first = now;
                        } else {
                            gaps.add((now - last) / 1e6);
                        }
                        last = now;
                    }
                    JsonNode usage = chunk.get("usage");
                    if (usage != null && usage.isObject()) {
                        usageTokens = usage.path("completion_tokens").asInt(-1);
                        promptTokens = usage.path("prompt_tokens").asInt(-1);
                    }
                }
            } catch (IOException e) {
                return RequestResult.failed("the stream broke after " + textChunks + " chunks with text: "
                        + describe(e));
            }
            return RequestResult.failed("the stream ended without data: [DONE] after " + textChunks
                    + " chunks with text");
        }

        /** choices[0].text of a completion chunk (delta.content of a chat chunk); "" when there is none. */
        private static String chunkText(JsonNode chunk) {
            JsonNode choice = chunk.path("choices").path(0);
            JsonNode text = choice.has("text") ? choice.get("text") : choice.path("delta").path("content");
            return text.isTextual() ? text.asText() : "";
        }
    }

    /** Runs {@code count} requests from {@code clients} closed-loop clients; bodies(i) is request i's body. */
    static Report run(Target target, int clients, int count, IntFunction<String> bodies) {
        RequestResult[] results = new RequestResult[count];
        AtomicInteger next = new AtomicInteger();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newFixedThreadPool(clients, Thread.ofPlatform().daemon().factory())) {
            for (int c = 0; c < clients; c++) {
                pool.execute(() -> {
                    for (int i; (i = next.getAndIncrement()) < count; ) {
                        try {
                            results[i] = target.complete(bodies.apply(i));
                        } catch (RuntimeException e) {
                            results[i] = RequestResult.failed(e.toString());
                        }
                    }
                });
            }
        } // close() waits for every client
        long wall = System.nanoTime() - start;
        return Report.of(clients, Arrays.asList(results), wall);
    }

    /** Value at quantile q of sorted values, interpolated linearly between ranks (numpy's default); NaN if none. */
    static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        double position = q * (sorted.length - 1);
        int below = (int) Math.floor(position);
        int above = Math.min(sorted.length - 1, below + 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
    }

    /** An exception as a short phrase: the JDK's connect failures often carry no message at all. */
    static String describe(Throwable e) {
        String kind = e instanceof HttpConnectTimeoutException ? "connection timed out"
                : e instanceof HttpTimeoutException ? "no response within --timeout"
                : e instanceof ConnectException ? "connection refused"
                : e.getClass().getSimpleName();
        String detail = null;
        for (Throwable t = e; t != null && detail == null; t = t.getCause()) {
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                detail = t.getMessage();
            }
        }
        return detail == null || detail.equalsIgnoreCase(kind) ? kind : kind + " (" + detail + ")";
    }

    /** The table's title and header, printed once the first warm-up has shown that the server answers. */
    private void printTableHeader(URI completions, String modelName) {
        main.out.printf(Locale.ROOT, "bench-serve: %s, model %s, prompt %s, max_tokens %d, %d warm-up "
                        + "request%s per run%n%n", completions, modelName == null ? "(none)" : modelName,
                promptText != null ? "--prompt (" + promptText.length() + " characters)"
                        : "~" + promptTokens() + " tokens",
                maxTokens, warmup, warmup == 1 ? "" : "s");
        main.out.printf(Locale.ROOT, "| %4s | %8s | %6s | %6s | %6s | %11s | %11s | %10s | %10s | %8s | %12s "
                        + "| %7s |%n", "C", "requests", "errors", "prompt", "tokens", "TTFT p50 ms",
                "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "tok/s", "stream tok/s", "wall s");
        main.out.printf(Locale.ROOT, "|-%4s-|-%8s-|-%6s-|-%6s-|-%6s-|-%11s-|-%11s-|-%10s-|-%10s-|-%8s-|-%12s-"
                        + "|-%7s-|%n", "-".repeat(4), "-".repeat(8), "-".repeat(6), "-".repeat(6),
                "-".repeat(6), "-".repeat(11), "-".repeat(11), "-".repeat(10), "-".repeat(10), "-".repeat(8),
                "-".repeat(12), "-".repeat(7));
        main.out.flush();
    }

    private String tableRow(Report r) {
        return String.format(Locale.ROOT, "| %4d | %8d | %6d | %6s | %6d | %11s | %11s | %10s | %10s | %8s | %12s "
                        + "| %7.2f |", r.concurrency(), r.requests(), r.errors(), number(r.promptTokensMean(), 1),
                r.completionTokens(), number(r.ttftMillisP50(), 1), number(r.ttftMillisP99(), 1),
                number(r.itlMillisP50(), 1), number(r.itlMillisP99(), 1), number(r.tokensPerSecond(), 2),
                number(r.streamTokensPerSecondMean(), 2), r.wallSeconds());
    }

    private static String number(double value, int decimals) {
        return Double.isNaN(value) ? "-" : String.format(Locale.ROOT, "%." + decimals + "f", value);
    }

    private Map<String, Object> jsonObject(Report r, String modelName) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("url", url);
        o.put("model", modelName);
        o.put("concurrency", r.concurrency());
        o.put("requests", r.requests());
        o.put("errors", r.errors());
        o.put("prompt_tokens_mean", rounded(r.promptTokensMean()));
        o.put("max_tokens", maxTokens);
        o.put("completion_tokens", r.completionTokens());
        o.put("wall_s", rounded(r.wallSeconds()));
        o.put("ttft_ms_p50", rounded(r.ttftMillisP50()));
        o.put("ttft_ms_p99", rounded(r.ttftMillisP99()));
        o.put("itl_ms_p50", rounded(r.itlMillisP50()));
        o.put("itl_ms_p99", rounded(r.itlMillisP99()));
        o.put("tokens_per_s", rounded(r.tokensPerSecond()));
        o.put("stream_tokens_per_s_mean", rounded(r.streamTokensPerSecondMean()));
        o.put("first_error", r.firstError());
        return o;
    }

    /** Three decimals, null for NaN (JSON has no NaN). */
    private static Double rounded(double value) {
        return Double.isNaN(value) ? null : Math.round(value * 1000) / 1000.0;
    }
}
