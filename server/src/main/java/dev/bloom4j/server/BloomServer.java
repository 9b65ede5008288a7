package dev.bloom4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bloom4j.BatchSession;
import dev.bloom4j.BloomModel;
import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.RequestException;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.DirectHandlers;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An OpenAI-compatible HTTP server for one BLOOM model: {@code POST /v1/completions} and
 * {@code /v1/chat/completions} (JSON or server-sent events), {@code GET /v1/models}, llama-server's
 * {@code POST /tokenize} and {@code /detokenize}, {@code GET /health} and Prometheus {@code GET /metrics}. Requests
 * are decoded together by one {@link BatchSession} (continuous batching: up to {@code maxSequences} at once, a new
 * request joins at the next step, a prompt sharing its start with a running request shares its cells).
 * {@snippet :
 * ServerConfig config = ServerConfig.builder().port(8080).modelName("bloom-560m").build();
 * try (BloomServer server = BloomServer.start(config, () -> BloomModel.load(Path.of("/models/bloom-560m")))) {
 *     server.awaitReady();                 // the model is loaded: /health answers 200
 *     server.awaitShutdown();              // until close() or the JVM's shutdown
 * }
 * }
 * The server listens at once; while the model loads, {@code /health} and every model endpoint answer 503. HTTP
 * is served by Helidon SE (a virtual thread per request); JSON by Jackson.
 *
 * <p>Security: it binds loopback unless told otherwise, has an optional API key (bearer token, compared in
 * constant time), and no TLS: put a reverse proxy in front of it to serve other hosts.
 */
public final class BloomServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = Logger.getLogger(BloomServer.class.getName());
    /** Endpoints named in metrics; anything else is counted as "other". */
    private static final Set<String> ENDPOINTS = Set.of("/v1/completions", "/v1/chat/completions", "/v1/models",
            "/tokenize", "/detokenize", "/health", "/metrics");

    private final ServerConfig config;
    private final WebServer web;
    private final ServerMetrics metrics = new ServerMetrics();
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private final byte[] expectedAuthorization;
    private volatile BloomModel model;
    private volatile BatchSession batch;
    private volatile OpenAiApi api;
    private volatile boolean closed;

    private BloomServer(ServerConfig config) {
        this.config = config;
        this.expectedAuthorization = config.apiKey() == null ? null
                : ("Bearer " + config.apiKey()).getBytes(StandardCharsets.UTF_8);
        DirectHandler transportErrors = (request, eventType, status, headers, message) -> {
            metrics.answered("other", status.code());
            String text = status.code() == 413
                    ? "the request body is larger than " + config.maxBodyBytes() + " bytes"
                    : message == null || message.isBlank() ? status.reasonPhrase() : message;
            ApiException e = new ApiException(status.code(), "invalid_request_error", text, null, null);
            return DirectHandler.TransportResponse.builder()
                    .status(status)
                    .header(HeaderNames.CONTENT_TYPE, "application/json")
                    .entity(errorBody(e))
                    .build();
        };
        DirectHandlers.Builder direct = DirectHandlers.builder();
        for (DirectHandler.EventType type : DirectHandler.EventType.values()) {
            direct.addHandler(type, transportErrors);
        }
        this.web = WebServer.builder()
                .host(config.host())
                .port(config.port())
                .maxPayloadSize(config.maxBodyBytes())
                .shutdownHook(false)
                .directHandlers(direct.build())
                .routing(this::routing)
                .build();
    }

    /**
     * Starts listening, then loads the model on another thread and opens the batch session: {@link #awaitReady()}
     * waits for that. The server owns the model it loads and closes it in {@link #close()}.
     *
     * @throws java.io.UncheckedIOException the address cannot be bound
     */
    public static BloomServer start(ServerConfig config, Callable<BloomModel> loader) {
        BloomServer server = new BloomServer(config);
        server.web.start();
        Thread.ofPlatform().name("bloom4j-server-load").daemon().start(() -> server.load(loader));
        return server;
    }

    private void load(Callable<BloomModel> loader) {
        BloomModel loaded = null;
        try {
            loaded = loader.call();
            synchronized (this) {
                if (closed) {
                    loaded.close();
                    ready.completeExceptionally(new IllegalStateException("the server was closed while loading"));
                    return;
                }
                BatchSession session = loaded.newBatchSession(config.session());
                model = loaded;
                batch = session;
                api = new OpenAiApi(config, loaded, session, metrics);
            }
            ready.complete(null);
        } catch (Throwable t) {
            if (loaded != null && model == null) {
                loaded.close();
            }
            ready.completeExceptionally(t);
        }
    }

    /**
     * Waits until the model is loaded and requests are served.
     *
     * @throws Exception what loading the model threw (the server keeps answering 503; close it)
     */
    public void awaitReady() throws Exception {
        try {
            ready.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** Waits until {@link #close()} has run (from another thread or a shutdown hook). */
    public void awaitShutdown() throws InterruptedException {
        try {
            stopped.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The port the server listens on. */
    public int port() {
        return web.port();
    }

    /** The batch session requests run in; null while the model loads. */
    public BatchSession batchSession() {
        return batch;
    }

    /**
     * Stops listening (requests in flight are cancelled), closes the batch session and the model. Idempotent.
     */
    @Override
    public void close() {
        BatchSession session;
        BloomModel owned;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            session = batch;
            owned = model;
        }
        try {
            if (session != null) {
                session.close(); // cancels every request: streams end, handlers return
            }
            web.stop();
            if (owned != null) {
                try {
                    owned.close();
                } catch (IllegalStateException e) {
                    // A handler still inside a model call (tokenize) as the server stopped; the process is ending.
                    LOG.log(Level.WARNING, "the model was still in use at shutdown: " + e.getMessage());
                }
            }
        } finally {
            stopped.complete(null);
        }
    }

    // ------------------------------------------------------------------------------------------ routing

    private void routing(HttpRouting.Builder routing) {
        routing.addFilter(this::filter)
                .get("/health", this::health)
                .get("/metrics", this::metrics)
                .get("/v1/models", guarded(r -> api.models(r.res())))
                .post("/v1/completions", guarded(r -> api.completions(r.req(), r.res(), false)))
                .post("/v1/chat/completions", guarded(r -> api.completions(r.req(), r.res(), true)))
                .post("/tokenize", guarded(r -> api.tokenize(r.req(), r.res())))
                .post("/detokenize", guarded(r -> api.detokenize(r.req(), r.res())))
                .any(this::notFound);
    }

    /** Authentication, the loading state, and the request count by endpoint and status. */
    private void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        String path = req.path().path();
        String endpoint = ENDPOINTS.contains(path) ? path : "other";
        if (expectedAuthorization != null && !path.equals("/health")) {
            byte[] given = req.headers().first(HeaderNames.AUTHORIZATION).orElse("").getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(given, expectedAuthorization)) {
                send(res, new ApiException(401, "invalid_request_error", "Incorrect or missing API key: send "
                        + "'Authorization: Bearer <key>' with the key the server was started with", null,
                        "invalid_api_key"));
                metrics.answered(endpoint, 401);
                return;
            }
        }
        // Counted when the route answered; a transport error (a body over the limit) is counted by its direct
        // handler instead.
        chain.proceed();
        metrics.answered(endpoint, res.status().code());
    }

    private void health(ServerRequest req, ServerResponse res) {
        if (api == null) {
            send(res, loading());
            return;
        }
        ObjectNode ok = JSON.createObjectNode().put("status", "ok");
        json(res, 200, ok);
    }

    private void metrics(ServerRequest req, ServerResponse res) {
        BatchSession session = batch;
        String text = metrics.render(session == null ? null : session.stats(), config.session().contextSize(),
                config.session().maxSequences());
        res.status(Status.OK_200);
        res.headers().set(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        res.send(text.getBytes(StandardCharsets.UTF_8));
    }

    private void notFound(ServerRequest req, ServerResponse res) {
        send(res, new ApiException(404, "invalid_request_error", "Invalid URL (" + req.prologue().method().text()
                + " " + req.path().path() + ")", null, "not_found"));
    }

    private ApiException loading() {
        if (ready.isCompletedExceptionally()) {
            return new ApiException(503, "unavailable_error", "the model failed to load", null, "model_not_loaded");
        }
        return new ApiException(503, "unavailable_error", "Loading model", null, "loading");
    }

    /** A handler's request and response. */
    record Exchange(ServerRequest req, ServerResponse res) {}

    /** Work on an exchange that may refuse the request with an {@link ApiException}. */
    @FunctionalInterface
    interface Work {
        void run(Exchange exchange) throws IOException;
    }

    /** Runs model endpoints: 503 while loading, ApiExceptions as OpenAI errors, never an unexplained 500. */
    private Handler guarded(Work work) {
        return (req, res) -> {
            if (api == null) {
                send(res, loading());
                return;
            }
            try {
                work.run(new Exchange(req, res));
            } catch (ApiException e) {
                if (!res.isSent()) {
                    send(res, e);
                }
            } catch (RequestException e) {
                throw e; // the transport's own (e.g. a chunked body over the limit): its direct handler answers
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.WARNING, "request " + req.path().path() + " failed", e);
                if (!res.isSent()) {
                    send(res, new ApiException(500, "server_error", "internal error (logged by the server)", null,
                            null));
                }
            }
        };
    }

    // ------------------------------------------------------------------------------------------ responses

    static void json(ServerResponse res, int status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        res.status(Status.create(status));
        res.headers().set(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(bytes);
    }

    static void send(ServerResponse res, ApiException e) {
        res.status(Status.create(e.status));
        res.headers().set(HeaderNames.CONTENT_TYPE, "application/json");
        if (e.status == 503) {
            res.headers().set(HeaderNames.create("Retry-After"), "1");
        }
        res.send(errorBody(e));
    }

    /** OpenAI's error object. */
    static ObjectNode errorNode(ApiException e) {
        ObjectNode error = JSON.createObjectNode();
        ObjectNode inner = error.putObject("error");
        inner.put("message", e.getMessage());
        inner.put("type", e.type);
        inner.put("param", e.param);
        inner.put("code", e.code);
        return error;
    }

    static byte[] errorBody(ApiException e) {
        try {
            return JSON.writeValueAsBytes(errorNode(e));
        } catch (IOException io) {
            throw new java.io.UncheckedIOException(io);
        }
    }

    static ArrayNode array() {
        return JSON.createArrayNode();
    }
}
