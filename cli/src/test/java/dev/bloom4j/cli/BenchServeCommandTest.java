package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.names;
import static dev.bloom4j.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code bloom bench-serve} against a fake OpenAI-compatible server (the JDK's HttpServer on a free loopback port)
 * that streams one chunk per requested token, a usage chunk and data: [DONE]; what it counts and reports, and how
 * it reports failures.
 */
class BenchServeCommandTest {

    static final ObjectMapper JSON = new ObjectMapper();

    /** How the fake server answers completion request number n (from 0, warm-ups included). */
    enum Mode { STREAM, STREAM_WITHOUT_USAGE, EVERY_SECOND_FAILS, BREAKS_OFF }

    HttpServer server;
    ExecutorService serverThreads;
    volatile Mode mode = Mode.STREAM;
    final AtomicInteger completions = new AtomicInteger();
    final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
    final List<String> authorizations = new CopyOnWriteArrayList<>();
    String url;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        serverThreads = Executors.newCachedThreadPool();
        server.setExecutor(serverThreads);
        server.createContext("/v1/models", exchange -> {
            exchange.getRequestBody().readAllBytes();
            respond(exchange, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"fake-model\",\"object\":\"model\"}]}");
        });
        server.createContext("/v1/completions", this::complete);
        server.start();
        url = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
        serverThreads.shutdownNow();
    }

    private void complete(HttpExchange exchange) throws IOException {
        JsonNode request = JSON.readTree(exchange.getRequestBody().readAllBytes());
        bodies.add(request);
        authorizations.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
        int n = completions.getAndIncrement();
        if (mode == Mode.EVERY_SECOND_FAILS && n % 2 == 1) {
            respond(exchange, 500, "{\"error\":{\"message\":\"fake failure\"}}");
            return;
        }
        int tokens = request.get("max_tokens").intValue();
        int promptTokens = request.get("prompt").asText().strip().split(" +").length;
        exchange.getResponseHeaders().add("Content-Type", "text/event-stream");
        exchange.sendResponseHeaders(200, 0);
        try (OutputStream out = exchange.getResponseBody()) {
            int sent = mode == Mode.BREAKS_OFF ? 2 : tokens;
            for (int i = 0; i < sent; i++) {
                // a comment line and an empty-text chunk, which are neither tokens nor gaps
                if (i == 0) {
                    event(out, ": ping");
                    event(out, "data: {\"choices\":[{\"text\":\"\",\"index\":0,\"finish_reason\":null}]}");
                }
                event(out, "data: {\"choices\":[{\"text\":\" w" + i + "\",\"index\":0,\"finish_reason\":null}]}");
            }
            if (mode == Mode.BREAKS_OFF) {
                return; // the stream ends here, with no [DONE]
            }
            if (mode != Mode.STREAM_WITHOUT_USAGE) {
                event(out, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + promptTokens
                        + ",\"completion_tokens\":" + tokens + ",\"total_tokens\":" + (promptTokens + tokens) + "}}");
            }
            event(out, "data: [DONE]");
        }
    }

    private static void event(OutputStream out, String line) throws IOException {
        out.write((line + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void respond(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static List<JsonNode> jsonLines(String out) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            lines.add(JSON.readTree(line));
        }
        return lines;
    }

    @Test
    void countsTokensAndReportsEveryRun() throws Exception {
        MainTest.Result r = run("bench-serve", "--url", url, "--concurrency", "1,3", "--requests", "6",
                "--max-tokens", "5", "--prompt-tokens", "7", "--api-key", "secret", "--json");
        assertEquals(0, r.status(), r.err());
        assertEquals("", r.err());
        List<JsonNode> runs = jsonLines(r.out());
        assertEquals(2, runs.size(), r.out());
        assertEquals(List.of("url", "model", "concurrency", "requests", "errors", "prompt_tokens_mean",
                "max_tokens", "completion_tokens", "wall_s", "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50",
                "itl_ms_p99", "tokens_per_s", "stream_tokens_per_s_mean", "first_error"), names(runs.get(0)));
        for (int i = 0; i < 2; i++) {
            JsonNode run = runs.get(i);
            assertEquals(i == 0 ? 1 : 3, run.get("concurrency").intValue());
            assertEquals("fake-model", run.get("model").asText());
            assertEquals(6, run.get("requests").intValue());
            assertEquals(0, run.get("errors").intValue());
            assertEquals(7.0, run.get("prompt_tokens_mean").doubleValue());
            assertEquals(5, run.get("max_tokens").intValue());
            assertEquals(30, run.get("completion_tokens").intValue());
            for (String figure : List.of("wall_s", "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p99",
                    "tokens_per_s", "stream_tokens_per_s_mean")) {
                assertTrue(run.get(figure).isNumber() && run.get(figure).doubleValue() > 0, figure + ": " + run);
            }
            assertTrue(run.get("ttft_ms_p50").doubleValue() <= run.get("ttft_ms_p99").doubleValue(), run.toString());
            assertTrue(run.get("first_error").isNull(), run.toString());
        }

        // one warm-up per run, then the run's requests, each a streamed greedy completion past EOS
        assertEquals(2 + 12, bodies.size());
        HashSet<String> prompts = new HashSet<>();
        for (JsonNode body : bodies) {
            assertEquals("fake-model", body.get("model").asText());
            assertEquals(0, body.get("temperature").intValue());
            assertTrue(body.get("stream").booleanValue());
            assertTrue(body.get("stream_options").get("include_usage").booleanValue());
            assertTrue(body.get("ignore_eos").booleanValue());
            assertEquals(5, body.get("max_tokens").intValue(), "warm-ups too: at most -n");
            assertEquals(7, body.get("prompt").asText().strip().split(" ").length);
            prompts.add(body.get("prompt").asText());
        }
        assertEquals(bodies.size(), prompts.size(), "every request has a prompt of its own");
        assertTrue(authorizations.stream().allMatch("Bearer secret"::equals), authorizations.toString());
    }

    @Test
    void warmUpIsShortAndTheTableIsTheDefault() {
        MainTest.Result r = run("bench-serve", "--url", url + "/", "--concurrency", "2", "--max-tokens", "20",
                "--prompt-tokens", "3");
        assertEquals(0, r.status(), r.err());
        assertEquals(BenchServeCommand.WARMUP_TOKENS, bodies.getFirst().get("max_tokens").intValue());
        assertEquals(1 + 8, bodies.size(), "4 requests per client by default");
        assertTrue(r.out().contains("TTFT p50 ms") && r.out().contains("ITL p99 ms"), r.out());
        String row = r.out().lines().filter(l -> l.startsWith("|    2 |")).findFirst().orElseThrow();
        String[] cells = row.split("\\|");
        assertEquals("8", cells[2].strip(), row);   // requests
        assertEquals("0", cells[3].strip(), row);   // errors
        assertEquals("3.0", cells[4].strip(), row); // prompt tokens
        assertEquals("160", cells[5].strip(), row); // tokens: 8 requests of 20
    }

    @Test
    void withoutUsageTheChunksWithTextAreCounted() throws Exception {
        mode = Mode.STREAM_WITHOUT_USAGE;
        MainTest.Result r = run("bench-serve", "--url", url + "/v1", "--model", "m", "--requests", "2",
                "--max-tokens", "4", "--prompt", "Hello world", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode run = jsonLines(r.out()).getFirst();
        assertEquals(8, run.get("completion_tokens").intValue());
        assertTrue(run.get("prompt_tokens_mean").isNull(), run.toString());
        assertEquals("m", bodies.getFirst().get("model").asText());
        assertEquals("Hello world", bodies.getLast().get("prompt").asText());
    }

    @Test
    void failedRequestsAreCountedAndTheFirstIsReported() throws Exception {
        mode = Mode.EVERY_SECOND_FAILS;
        MainTest.Result r = run("bench-serve", "--url", url, "--warmup", "0", "--requests", "4", "--max-tokens",
                "3", "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode run = jsonLines(r.out()).getFirst();
        assertEquals(4, run.get("requests").intValue());
        assertEquals(2, run.get("errors").intValue());
        assertEquals(6, run.get("completion_tokens").intValue(), "only the successful requests count");
        assertTrue(run.get("first_error").asText().startsWith("HTTP 500"), run.toString());
        assertTrue(run.get("first_error").asText().contains("fake failure"), run.toString());
        assertTrue(r.err().contains("note: 2 of 4 requests of the run with C=1 failed; the first: HTTP 500"),
                r.err());
    }

    @Test
    void aStreamWithoutDoneIsAnError() throws Exception {
        mode = Mode.BREAKS_OFF;
        MainTest.Result r = run("bench-serve", "--url", url, "--warmup", "0", "--requests", "2", "--json");
        assertEquals(1, r.status(), "every request failed: " + r.err());
        JsonNode run = jsonLines(r.out()).getFirst();
        assertEquals(2, run.get("errors").intValue());
        assertTrue(run.get("ttft_ms_p50").isNull() && run.get("tokens_per_s").isNull(), run.toString());
        assertTrue(run.get("first_error").asText().contains("without data: [DONE] after 2 chunks"), run.toString());
        assertTrue(r.err().contains("error: every request of the run with C=1 failed"), r.err());

        mode = Mode.EVERY_SECOND_FAILS;
        completions.set(1);
        MainTest.Result warmUp = run("bench-serve", "--url", url, "--requests", "2");
        assertEquals(1, warmUp.status());
        assertTrue(warmUp.err().startsWith("error: the warm-up request to " + url + "/v1/completions failed: "
                + "HTTP 500"), warmUp.err());
    }

    @Test
    void anUnreachableServerIsOneErrorLine() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        String closed = "http://127.0.0.1:" + port;
        MainTest.Result r = run("bench-serve", "--url", closed);
        assertEquals(1, r.status());
        assertTrue(r.err().startsWith("error: cannot reach the server at " + closed + ": connection refused"),
                r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        // with a model given and no warm-up nothing is asked first: every request fails and is counted
        MainTest.Result counted = run("bench-serve", "--url", closed, "--model", "m", "--warmup", "0",
                "--concurrency", "2", "--requests", "3", "--json");
        assertEquals(1, counted.status());
        JsonNode run = jsonLines(counted.out()).getFirst();
        assertEquals(3, run.get("errors").intValue());
        assertTrue(run.get("first_error").asText().startsWith("connection refused"), run.toString());
    }

    @Test
    void badUsageExitsTwo() {
        for (String[] args : List.of(
                new String[] {"--concurrency", "0"},
                new String[] {"--concurrency", "2,-1"},
                new String[] {"--requests", "0"},
                new String[] {"--max-tokens", "0"},
                new String[] {"--prompt-tokens", "0"},
                new String[] {"--prompt", "x", "--prompt-tokens", "3"},
                new String[] {"--warmup", "-1"},
                new String[] {"--timeout", "0"},
                new String[] {"--url", "ftp://127.0.0.1:8080"},
                new String[] {"--url", "127.0.0.1:8080"})) {
            List<String> command = new ArrayList<>(List.of("bench-serve", "--url", url));
            command.addAll(List.of(args));
            MainTest.Result r = run(command.toArray(String[]::new));
            assertEquals(2, r.status(), String.join(" ", args) + ": " + r.err());
            String option = args[args.length - 2];
            assertTrue(r.err().startsWith("error: ") && r.err().contains(option), r.err());
        }
        assertEquals(0, completions.get(), "nothing was sent");
    }

    @Test
    void percentilesInterpolateBetweenRanks() {
        double[] values = {10, 20, 30, 40};
        assertEquals(25.0, BenchServeCommand.percentile(values, 0.50), 1e-12);
        assertEquals(39.7, BenchServeCommand.percentile(values, 0.99), 1e-12);
        assertEquals(7.0, BenchServeCommand.percentile(new double[] {7}, 0.99), 0);
        assertTrue(Double.isNaN(BenchServeCommand.percentile(new double[0], 0.5)));
    }

    @Test
    void promptsAreDeterministicAndDistinct() {
        String a = BenchServeCommand.promptWords(128, 1234, 0);
        assertEquals(a, BenchServeCommand.promptWords(128, 1234, 0));
        assertEquals(128, a.strip().split(" ").length);
        assertTrue(a.startsWith(" "), "every word after a space: one token each");
        assertNotEquals(a, BenchServeCommand.promptWords(128, 1234, 1));
        assertNotEquals(BenchServeCommand.promptWords(128, 1235, 0), BenchServeCommand.promptWords(128, 1234, 1));
        assertFalse(a.contains("  "));
    }
}
