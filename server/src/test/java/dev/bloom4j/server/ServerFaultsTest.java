package dev.bloom4j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.bloom4j.checkpoint.DemoCheckpoint;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input and bad clients on loopback: malformed and oversized bodies, wrong field types, clients that go away
 * or read slowly, a full queue, a missing key, 1,000 requests in a row. The server answers each with the right
 * status (never a 500), the other requests go on, and the KV cache is empty at rest.
 */
class ServerFaultsTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static TestServer server;

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        server = TestServer.start(dir);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void badBodiesGet400WithOpenAisErrorObjectNever500() throws Exception {
        List<String> completions = List.of("", "{", "[]", "null", "42", "{\"prompt\": 5}", "{\"prompt\": []}",
                "{\"prompt\": [[]]}", "{\"prompt\": [\"a\", 3]}", "{\"prompt\": [1, 99999999]}",
                "{\"prompt\": [-1]}", "{\"prompt\": \"\"}", "{}", "{\"prompt\": \"a\", \"max_tokens\": -1}",
                "{\"prompt\": \"a\", \"max_tokens\": \"3\"}", "{\"prompt\": \"a\", \"max_tokens\": 1e99}",
                "{\"prompt\": \"a\", \"temperature\": \"hot\"}", "{\"prompt\": \"a\", \"top_p\": 0}",
                "{\"prompt\": \"a\", \"top_p\": 1.5}", "{\"prompt\": \"a\", \"n\": 0}", "{\"prompt\": \"a\", \"n\": 9999}",
                "{\"prompt\": \"a\", \"stop\": 3}", "{\"prompt\": \"a\", \"stop\": [1]}",
                "{\"prompt\": \"a\", \"logprobs\": 101}", "{\"prompt\": \"a\", \"logprobs\": true}",
                "{\"prompt\": \"a\", \"seed\": \"x\"}", "{\"prompt\": \"a\", \"stream\": \"yes\"}",
                "{\"prompt\": \"a\", \"stream_options\": 1}", "{\"prompt\": \"a\", \"echo\": true, \"logprobs\": 1}",
                "{\"prompt\": \"a\", \"logit_bias\": {\"1\": 5}}", "{\"prompt\": \"a\", \"suffix\": \"b\"}",
                "{\"prompt\": \"a\", \"presence_penalty\": 3}", "{\"prompt\": \"a\", \"min_p\": -0.1}",
                "{\"prompt\": \"a\", \"top_k\": -1}", "{\"prompt\": \"a\", \"repetition_penalty\": 0}",
                "{\"prompt\": \"a\", \"best_of\": 3}", "{\"prompt\": " + "[".repeat(5000) + "]".repeat(5000) + "}",
                "{\"prompt\": \"a\\ud800b\"}", "{\"prompt\": \"a\", \"stop\": \"\\udc00\"}",
                "{\"prompt\": \"a\", \"stop\": [\"x\", \"\\ud800\"]}", "{\"prompt\": \"a\", \"top_p\": 1e-50}",
                "{\"prompt\": \"a\", \"repetition_penalty\": 1e-50}", "{\"prompt\": \"a\", \"temperature\": 1e-9}",
                "{\"prompt\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\"], \"n\": 10}");
        for (String body : completions) {
            expect400(server.post("/v1/completions", body), body);
        }
        List<String> chats = List.of("{}", "{\"messages\": []}", "{\"messages\": {}}", "{\"messages\": [1]}",
                "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}",
                "{\"messages\": [{\"role\": \"user\"}]}", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
                "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"function\"}]}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": "
                        + "\"json_object\"}}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": -5}");
        for (String body : chats) {
            expect400(server.post("/v1/chat/completions", body), body);
        }
        expect400(server.post("/tokenize", "{\"text\": \"x\"}"), "tokenize without content");
        expect400(server.post("/tokenize", "{\"content\": \"\\ud800\"}"), "tokenize an unpaired surrogate");
        expect400(server.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + "\"\\udfff\"}]}"), "chat with an unpaired surrogate");
        expect400(server.post("/detokenize", "{\"tokens\": [1, \"a\"]}"), "detokenize with a string");
        expect400(server.post("/detokenize", "{\"tokens\": [1000000]}"), "detokenize out of range");
        assertEquals(0, server.metric("bloom4j_kv_cells_used"));
    }

    private static void expect400(HttpResponse<String> r, String what) throws Exception {
        assertEquals(400, r.statusCode(), what + " -> " + r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertTrue(error.get("message").isTextual() && !error.get("message").asText().isEmpty(), r.body());
        assertEquals("invalid_request_error", error.get("type").asText(), r.body());
        assertTrue(error.has("param") && error.has("code"), r.body());
    }

    @Test
    void tenMegabyteBodiesGet413AndTheServerStaysUp() throws Exception {
        String big = "{\"prompt\": \"" + "a".repeat(10 << 20) + "\"}";
        // With a Content-Length: refused from the header alone. Only the header is sent: a client still uploading
        // when the server answers and closes may lose the answer to the connection's reset (HTTP's usual race), so
        // an HTTP client sending all 10 MB saw 413 on most runs and "no bytes" on some.
        try (Socket socket = new Socket("127.0.0.1", server.server.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TestServer.KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: "
                    + big.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.UTF_8));
            String status = in.readLine();
            assertTrue(status != null && status.startsWith("HTTP/1.1 413"), String.valueOf(status));
            int length = -1;
            for (String line; (line = in.readLine()) != null && !line.isEmpty(); ) {
                if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring(line.indexOf(':') + 1).strip());
                }
            }
            assertTrue(length > 0, "a 413 with a body");
            char[] body = new char[length];
            for (int n = 0; n < length; ) {
                int read = in.read(body, n, length - n);
                assertTrue(read > 0, "the 413's body ends early");
                n += read;
            }
            assertTrue(new String(body).contains("larger than"), new String(body));
        }
        // chunked, with no Content-Length: refused while reading
        HttpRequest chunked = HttpRequest.newBuilder(URI.create(server.base + "/v1/completions"))
                .header("Authorization", "Bearer " + TestServer.KEY)
                .POST(HttpRequest.BodyPublishers.ofInputStream(
                        () -> new java.io.ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8))))
                .build();
        int status;
        try {
            status = server.send(chunked).statusCode();
        } catch (java.io.UncheckedIOException e) {
            status = 413; // the server may close the connection while the client still sends
        }
        assertEquals(413, status);
        assertEquals(200, server.post("/v1/completions", "{\"prompt\": \"ok\", \"max_tokens\": 2}").statusCode());
    }

    @Test
    void aClientThatDisconnectsMidStreamFreesItsSequence() throws Exception {
        double cancelledBefore = server.metric("bloom4j_requests_cancelled_total");
        try (Socket socket = new Socket("127.0.0.1", server.server.port())) {
            socket.setSoTimeout(60_000);
            startStream(socket, "{\"prompt\": \"Going away\", \"max_tokens\": 1500, \"ignore_eos\": true, "
                    + "\"stream\": true}");
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.UTF_8));
            int events = 0;
            for (String line; (line = in.readLine()) != null && events < 5; ) {
                if (line.startsWith("data:")) {
                    events++;
                }
            }
            assertEquals(5, events);
            assertTrue(server.metric("bloom4j_active_sequences") >= 1);
        }
        server.awaitNoCellsUsed();
        assertEquals(cancelledBefore + 1, server.metric("bloom4j_requests_cancelled_total"));
    }

    @Test
    void aClientThatReadsSlowlyDelaysNobodyElse() throws Exception {
        try (Socket slow = new Socket()) {
            slow.setReceiveBufferSize(4096);
            slow.setSoTimeout(60_000); // a stream that stalls fails the test rather than waiting for the idle timeout
            slow.connect(new java.net.InetSocketAddress("127.0.0.1", server.server.port()));
            // ~200 events (max_tokens is capped at a sequence's share, 204 cells) of ~2 KB each with 20 log-probability
            // alternatives: more than the socket buffers hold, so the server's writes block.
            startStream(slow, "{\"prompt\": \"Slow reader\", \"max_tokens\": 1500, \"ignore_eos\": true, "
                    + "\"stream\": true, \"temperature\": 0, \"logprobs\": 20}");
            // While it reads nothing, other requests are served.
            for (int i = 0; i < 5; i++) {
                HttpResponse<String> r = server.post("/v1/completions", "{\"prompt\": \"fast " + i
                        + "\", \"max_tokens\": 8}");
                assertEquals(200, r.statusCode(), r.body());
            }
            Thread.sleep(1000);
            // Then it reads the whole stream: every token, the finish, [DONE].
            BufferedReader in = new BufferedReader(new InputStreamReader(slow.getInputStream(),
                    StandardCharsets.UTF_8));
            int tokens = 0;
            String finish = null;
            for (String line; (line = in.readLine()) != null && !line.equals("data:[DONE]"); ) {
                if (line.startsWith("data:{")) {
                    JsonNode choice = JSON.readTree(line.substring(5)).at("/choices/0");
                    if (choice.get("finish_reason").isNull()) {
                        tokens++;
                    } else {
                        finish = choice.get("finish_reason").asText();
                    }
                }
            }
            assertEquals("length", finish);
            assertTrue(tokens > 190, tokens + " token events");
        }
        server.awaitNoCellsUsed();
    }

    /** Sends a streaming completion request on a raw socket (Connection: close, so the reply ends with it). */
    private static void startStream(Socket socket, String body) throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TestServer.KEY
                + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + bytes.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
    }

    @Test
    void aThousandSequentialRequestsLeaveMemoryAndTheCacheAtRest() throws Exception {
        String body = "{\"prompt\": \"Request\", \"max_tokens\": 1}";
        for (int i = 0; i < 200; i++) {
            assertEquals(200, server.post("/v1/completions", body).statusCode());
        }
        System.gc();
        long before = residentKiB();
        for (int i = 0; i < 1000; i++) {
            HttpResponse<String> r = server.post("/v1/completions", body);
            assertEquals(200, r.statusCode(), r.body());
        }
        System.gc();
        long after = residentKiB();
        assertTrue(after - before < 64 * 1024, "RSS grew from " + before + " KiB to " + after + " KiB");
        assertEquals(0, server.metric("bloom4j_kv_cells_used"));
        assertEquals(0, server.metric("bloom4j_requests_in_flight"));
    }

    private static long residentKiB() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new AssertionError("no VmRSS");
    }

    @Test
    void aPromptStartingLikeARunningOneReusesItsCells() throws Exception {
        String preamble = "You are a helpful assistant. Answer every question in one short sentence. ".repeat(3);
        double before = server.metric("bloom4j_prompt_tokens_reused_total");
        CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() -> server.post(
                "/v1/completions", "{\"prompt\": \"" + preamble + "Q: first\", \"max_tokens\": 400, "
                        + "\"ignore_eos\": true}"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (server.metric("bloom4j_prompt_tokens_total") == 0 || server.metric("bloom4j_active_sequences") < 1) {
            assertTrue(System.nanoTime() < deadline, "the first request did not start");
            Thread.sleep(5);
        }
        HttpResponse<String> second = server.post("/v1/completions", "{\"prompt\": \"" + preamble
                + "Q: second\", \"max_tokens\": 4, \"temperature\": 0}");
        assertEquals(200, second.statusCode(), second.body());
        assertEquals(200, first.get(60, TimeUnit.SECONDS).statusCode());
        assertTrue(server.metric("bloom4j_prompt_tokens_reused_total") - before >= 20,
                "reused " + (server.metric("bloom4j_prompt_tokens_reused_total") - before));
        // and the answer is what the prompt gives alone
        String text = JSON.readTree(second.body()).at("/choices/0/text").asText();
        assertEquals(server.greedyAlone(preamble + "Q: second", 4).text(), text);
    }

    @Test
    void aHugeMaxTokensIsCappedAtASequencesShareOfTheCache() throws Exception {
        // 2048 cells for 10 sequences: 204 each, as llama-server's per-slot context.
        HttpResponse<String> r = server.post("/v1/completions", "{\"prompt\": \"Greedy\", \"max_tokens\": 1000000, "
                + "\"ignore_eos\": true}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals(204, body.at("/usage/total_tokens").asInt(), r.body());
        assertEquals("length", body.at("/choices/0/finish_reason").asText());
    }

    @Test
    void tokenizeAndDetokenizeRoundTrip() throws Exception {
        HttpResponse<String> t = server.post("/tokenize", "{\"content\": \"Hello world, hello!\"}");
        assertEquals(200, t.statusCode(), t.body());
        JsonNode tokens = JSON.readTree(t.body()).get("tokens");
        assertTrue(tokens.isArray() && tokens.size() > 2, t.body());
        HttpResponse<String> d = server.post("/detokenize", "{\"tokens\": " + tokens + "}");
        assertEquals("Hello world, hello!", JSON.readTree(d.body()).get("content").asText());
        HttpResponse<String> pieces = server.post("/tokenize", "{\"content\": \"Hello world\", \"with_pieces\": true}");
        JsonNode first = JSON.readTree(pieces.body()).get("tokens").get(0);
        assertEquals(tokens.get(0).asInt(), first.get("id").asInt());
        assertEquals("Hello", first.get("piece").asText());
    }

    @Test
    void withoutTheKeyOnlyHealthAnswers() {
        HttpResponse<String> none = server.send(HttpRequest.newBuilder(URI.create(server.base + "/v1/models"))
                .GET().build());
        assertEquals(401, none.statusCode());
        assertTrue(none.body().contains("invalid_api_key"), none.body());
        HttpResponse<String> wrong = server.send(HttpRequest.newBuilder(URI.create(server.base + "/metrics"))
                .header("Authorization", "Bearer " + TestServer.KEY + "x").GET().build());
        assertEquals(401, wrong.statusCode());
        assertEquals(200, server.send(HttpRequest.newBuilder(URI.create(server.base + "/health")).GET().build())
                .statusCode());
        String notFound = "bloom4j_requests_total{endpoint=\"other\",status=\"404\"}";
        double before = server.get("/metrics").body().lines().filter(l -> l.startsWith(notFound)).findFirst()
                .map(l -> Double.parseDouble(l.substring(notFound.length() + 1))).orElse(0.0);
        assertEquals(404, server.get("/v2/nothing").statusCode());
        double after = server.get("/metrics").body().lines().filter(l -> l.startsWith(notFound)).findFirst()
                .map(l -> Double.parseDouble(l.substring(notFound.length() + 1))).orElseThrow();
        assertEquals(before + 1, after, "one 404 counted once");
    }

    @Test
    void aStreamWhoseClientLeavesWhileQueuedNeverRuns(@TempDir Path dir) throws Exception {
        long ping = OpenAiApi.pingMillis;
        OpenAiApi.pingMillis = 10;
        try (TestServer small = TestServer.start(dir, ServerConfig.builder().session(TestServer.session(1)))) {
            // A keeps the one sequence busy: a client that reads nothing, its stream's writes blocked.
            CompletableFuture<HttpResponse<String>> a = CompletableFuture.supplyAsync(() -> small.post(
                    "/v1/completions", "{\"prompt\": \"busy\", \"max_tokens\": 2000, \"ignore_eos\": true}"));
            long started = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (small.metric("bloom4j_active_sequences") < 1) {
                assertTrue(System.nanoTime() < started, "A did not start");
                Thread.sleep(1);
            }
            try (Socket b = new Socket("127.0.0.1", small.server.port())) {
                b.setSoTimeout(10_000);
                startStream(b, "{\"prompt\": \"waiting in line\", \"max_tokens\": 50, \"stream\": true}");
                BufferedReader in = new BufferedReader(new InputStreamReader(b.getInputStream(),
                        StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null && !line.startsWith(":") && !line.startsWith("data:")) {
                    // the headers, then the first comment: B is queued behind A
                }
                assertTrue(line != null && line.startsWith(":waiting"), "no comment while queued: " + line);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (small.metric("bloom4j_requests_cancelled_total") < 1) {
                assertTrue(System.nanoTime() < deadline, "the queued stream was not cancelled");
                Thread.sleep(5);
            }
            assertEquals(200, a.get(60, TimeUnit.SECONDS).statusCode());
            small.awaitNoCellsUsed();
            // B's prompt was never evaluated, nor a token generated for it.
            assertEquals(JSON.readTree(a.get().body()).at("/usage/completion_tokens").asDouble()
                    + 1 /* warm-up-free: A only */, small.metric("bloom4j_generated_tokens_total") + 1);
        } finally {
            OpenAiApi.pingMillis = ping;
        }
    }

    @Test
    void aFullQueueAnswers503WithRetryAfter(@TempDir Path dir) throws Exception {
        try (TestServer small = TestServer.start(dir, ServerConfig.builder().session(TestServer.session(1))
                .queueSize(0))) {
            try (Socket running = new Socket("127.0.0.1", small.server.port())) {
                startStream(running, "{\"prompt\": \"busy\", \"max_tokens\": 1500, \"ignore_eos\": true, "
                        + "\"stream\": true}");
                InputStream in = running.getInputStream();
                in.read(new byte[256]); // the stream has started
                HttpResponse<String> refused = small.post("/v1/completions", "{\"prompt\": \"me too\"}");
                assertEquals(503, refused.statusCode(), refused.body());
                assertEquals("1", refused.headers().firstValue("Retry-After").orElseThrow());
                assertEquals("server_overloaded", JSON.readTree(refused.body()).at("/error/code").asText());
                assertEquals(1, small.metric("bloom4j_requests_rejected_total"));
            }
            small.awaitNoCellsUsed();
            assertEquals(200, small.post("/v1/completions", "{\"prompt\": \"now\", \"max_tokens\": 2}").statusCode());
        }
    }

    @Test
    void healthIs503WhileTheModelLoads(@TempDir Path dir) throws Exception {
        Path model = DemoCheckpoint.ensure(dir);
        CountDownLatch release = new CountDownLatch(1);
        BloomServer loading = BloomServer.start(ServerConfig.builder().port(0).session(TestServer.session(2))
                .build(), () -> {
                    release.await();
                    return BloomModel.load(model);
                });
        try {
            String base = "http://127.0.0.1:" + loading.port();
            HttpResponse<String> health = server.send(HttpRequest.newBuilder(URI.create(base + "/health")).build());
            assertEquals(503, health.statusCode());
            assertEquals("loading", JSON.readTree(health.body()).at("/error/code").asText());
            HttpResponse<String> early = server.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"x\"}")).build());
            assertEquals(503, early.statusCode());
            release.countDown();
            loading.awaitReady();
            assertEquals(200, server.send(HttpRequest.newBuilder(URI.create(base + "/health")).build()).statusCode());
        } finally {
            release.countDown();
            loading.close();
        }
    }
}
