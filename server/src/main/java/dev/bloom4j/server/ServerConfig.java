package dev.bloom4j.server;

import dev.bloom4j.SessionConfig;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a {@link BloomServer} listens and schedules: address, API key, the {@link dev.bloom4j.BatchSession} it
 * decodes with, and its limits. Immutable; built with {@link #builder()}.
 * {@snippet :
 * ServerConfig config = ServerConfig.builder()
 *         .port(8080)                       // 0 = any free port
 *         .session(SessionConfig.builder().contextSize(8192).maxSequences(8).threads(4).build())
 *         .apiKey("secret")
 *         .build();
 * }
 *
 * @param host             address to bind; loopback ({@code 127.0.0.1}) by default
 * @param port             TCP port; 0 picks a free one ({@link BloomServer#port()} tells which)
 * @param session          the batch session: {@code maxSequences} is how many requests decode together
 *                         ({@code --parallel}), {@code contextSize} the KV cells they share ({@code --ctx-size})
 * @param apiKey           when not null, every request but {@code GET /health} needs
 *                         {@code Authorization: Bearer <apiKey>}
 * @param modelName        the model id {@code /v1/models} lists and responses carry
 * @param chatTemplate     how chat messages become a prompt
 * @param queueSize        completions (prompts times n) that may wait for a sequence beyond those decoding; more
 *                         get 503 with Retry-After
 * @param maxBodyBytes     larger request bodies get 413
 * @param defaultMaxTokens {@code max_tokens} of a chat request that names none (a completion request without one
 *                         gets OpenAI's 16)
 */
public record ServerConfig(String host, int port, SessionConfig session, String apiKey, String modelName,
                           ChatTemplate chatTemplate, int queueSize, long maxBodyBytes, int defaultMaxTokens) {

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(session, "session");
        Objects.requireNonNull(modelName, "modelName");
        Objects.requireNonNull(chatTemplate, "chatTemplate");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("apiKey must not be blank (leave it unset for no key)");
        }
        if (queueSize < 0) {
            throw new IllegalArgumentException("queueSize must be >= 0, got " + queueSize);
        }
        if (maxBodyBytes < 1024) {
            throw new IllegalArgumentException("maxBodyBytes must be >= 1024, got " + maxBodyBytes);
        }
        if (defaultMaxTokens < 1) {
            throw new IllegalArgumentException("defaultMaxTokens must be >= 1, got " + defaultMaxTokens);
        }
    }

    /** Defaults: 127.0.0.1:8080, 4 sequences over 4096 cells, no key, queue 64, bodies up to 4 MiB, chat 256 tokens. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link ServerConfig}; {@link #build()} validates. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = 8080;
        private SessionConfig session = SessionConfig.builder().contextSize(4096).maxSequences(4).build();
        private String apiKey;
        private String modelName = "bloom";
        private ChatTemplate chatTemplate = ChatTemplate.bloomz();
        private int queueSize = 64;
        private long maxBodyBytes = 4L << 20;
        private int defaultMaxTokens = 256;

        private Builder() {
        }

        /** Address to bind. */
        public Builder host(String host) {
            this.host = host;
            return this;
        }

        /** TCP port; 0 = any free one. */
        public Builder port(int port) {
            this.port = port;
            return this;
        }

        /** The batch session's configuration (parallel sequences, shared context, threads). */
        public Builder session(SessionConfig session) {
            this.session = session;
            return this;
        }

        /** The bearer token requests must carry; null = none. */
        public Builder apiKey(String apiKey) {
            this.apiKey = apiKey;
            return this;
        }

        /** The model id clients see. */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        /** How chat messages become a prompt. */
        public Builder chatTemplate(ChatTemplate chatTemplate) {
            this.chatTemplate = chatTemplate;
            return this;
        }

        /** Requests that may wait beyond those decoding. */
        public Builder queueSize(int queueSize) {
            this.queueSize = queueSize;
            return this;
        }

        /** Largest request body accepted. */
        public Builder maxBodyBytes(long maxBodyBytes) {
            this.maxBodyBytes = maxBodyBytes;
            return this;
        }

        /** max_tokens of a chat request that names none. */
        public Builder defaultMaxTokens(int defaultMaxTokens) {
            this.defaultMaxTokens = defaultMaxTokens;
            return this;
        }

        /** @throws IllegalArgumentException naming the invalid field */
        public ServerConfig build() {
            return new ServerConfig(host, port, session, apiKey, modelName, chatTemplate, queueSize, maxBodyBytes,
                    defaultMaxTokens);
        }
    }

    /** The model id for a checkpoint path: its file or directory name. */
    public static String modelNameOf(Path path) {
        Path name = path.toAbsolutePath().normalize().getFileName();
        return name == null ? "bloom" : name.toString();
    }
}
