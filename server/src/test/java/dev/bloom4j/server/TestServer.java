package dev.bloom4j.server;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.DemoCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One {@link BloomServer} on a free loopback port over the demo checkpoint (random weights), shared by a test
 * class, and the independent reference: the same model in a {@link BloomSession}, which is what
 * {@code bloom generate} runs.
 */
final class TestServer implements AutoCloseable {
    static final String KEY = "test-key-123";
    static final int CONTEXT = 2048;

    final Path modelDir;
    final BloomServer server;
    final String base;
    private final HttpClient http = HttpClient.newHttpClient();

    private TestServer(Path modelDir, BloomServer server) {
        this.modelDir = modelDir;
        this.server = server;
        this.base = "http://127.0.0.1:" + server.port();
    }

    /** A server with an API key, 10 parallel sequences over {@link #CONTEXT} cells, 2 threads. */
    static TestServer start(Path dir) throws Exception {
        return start(dir, ServerConfig.builder().apiKey(KEY).session(session(10)));
    }

    static SessionConfig session(int parallel) {
        return SessionConfig.builder().contextSize(CONTEXT).maxSequences(parallel).threads(2).build();
    }

    static TestServer start(Path dir, ServerConfig.Builder config) throws Exception {
        Path model = DemoCheckpoint.ensure(dir);
        BloomServer server = BloomServer.start(config.port(0).modelName("demo").build(), () -> BloomModel.load(model));
        server.awaitReady();
        return new TestServer(model, server);
    }

    /** What {@code bloom generate --temperature 0} prints for this prompt: a lone session's greedy completion. */
    Completion greedyAlone(String prompt, int maxTokens) {
        try (BloomModel model = BloomModel.load(modelDir);
             BloomSession session = model.newSession(SessionConfig.builder().contextSize(CONTEXT).threads(2).build())) {
            return session.generate(prompt, GenerationConfig.greedy().maxTokens(maxTokens));
        }
    }

    /** A raw POST with the key; the body as given. */
    HttpResponse<String> post(String path, String body) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + KEY)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    HttpResponse<String> get(String path) {
        return send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + KEY).GET()
                .build());
    }

    HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A metric's value from {@code GET /metrics}. */
    double metric(String name) {
        for (String line : get("/metrics").body().split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        throw new AssertionError("no metric " + name);
    }

    /** Waits until the server is at rest: no request in flight, no sequence, no KV cell in use. */
    void awaitNoCellsUsed() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (metric("bloom4j_kv_cells_used") != 0 || metric("bloom4j_active_sequences") != 0
                || metric("bloom4j_requests_in_flight") != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("cells still in use: " + metric("bloom4j_kv_cells_used"));
            }
            Thread.sleep(20);
        }
    }

    static String text(Path file) throws IOException {
        return Files.readString(file);
    }

    @Override
    public void close() {
        server.close();
    }
}
