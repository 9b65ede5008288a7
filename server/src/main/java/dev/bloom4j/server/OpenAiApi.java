package dev.bloom4j.server;

import static dev.bloom4j.server.BloomServer.JSON;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bloom4j.BatchSession;
import dev.bloom4j.BloomModel;
import dev.bloom4j.Completion;
import dev.bloom4j.ContextFullException;
import dev.bloom4j.FinishReason;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.InvalidArgumentException;
import dev.bloom4j.TokenLogprobs;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.http.sse.SseEvent;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.sse.SseSink;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI endpoints over a {@link BatchSession}: request parsing and checks ({@link Requests}), submission, and
 * the JSON and server-sent-event responses in OpenAI's schemas.
 */
final class OpenAiApi {
    /**
     * How long a stream waits for a token before it writes a comment to see whether its client is still there
     * (tests shorten it).
     */
    static volatile long pingMillis = 1000;
    private static final byte[] DONE = "[DONE]".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    private final ServerConfig config;
    private final BloomModel model;
    private final BatchSession batch;
    private final ServerMetrics metrics;
    private final TokenText tokenText;
    private final int limit;
    private final int eos; // -1 when the tokenizer has none

    OpenAiApi(ServerConfig config, BloomModel model, BatchSession batch, ServerMetrics metrics) {
        this.config = config;
        this.model = model;
        this.batch = batch;
        this.metrics = metrics;
        this.tokenText = new TokenText(model);
        this.limit = batch.maxSequences() + config.queueSize();
        this.eos = model.info().eosToken().orElse(-1);
    }

    // ------------------------------------------------------------------------------------------ small endpoints

    void models(ServerResponse res) {
        ObjectNode body = JSON.createObjectNode().put("object", "list");
        ObjectNode entry = body.putArray("data").addObject();
        entry.put("id", config.modelName()).put("object", "model").put("created", 0).put("owned_by", "bloom4j");
        ObjectNode meta = entry.putObject("meta");
        meta.put("n_ctx", batch.contextSize()).put("n_vocab", model.info().vocabularySize())
                .put("parallel", batch.maxSequences());
        BloomServer.json(res, 200, body);
    }

    /** llama-server's {@code POST /tokenize}: {@code {"content": text}} to {@code {"tokens": [ids]}}. */
    void tokenize(ServerRequest req, ServerResponse res) {
        JsonNode body = Requests.body(req);
        String content = Requests.string(body, "content", null);
        if (content == null) {
            throw ApiException.invalid("content", "\"content\" (the text to tokenize) is required");
        }
        Requests.checkText("content", content);
        boolean withPieces = Requests.bool(body, "with_pieces", false);
        int[] ids = model.tokenize(content);
        ObjectNode out = JSON.createObjectNode();
        ArrayNode tokens = out.putArray("tokens");
        for (int id : ids) {
            if (withPieces) {
                tokens.addObject().put("id", id).put("piece", tokenText.of(id).text());
            } else {
                tokens.add(id);
            }
        }
        BloomServer.json(res, 200, out);
    }

    /** llama-server's {@code POST /detokenize}: {@code {"tokens": [ids]}} to {@code {"content": text}}. */
    void detokenize(ServerRequest req, ServerResponse res) {
        JsonNode body = Requests.body(req);
        int[] ids = Requests.tokenIds(body.get("tokens"), "tokens", model.info().vocabularySize());
        if (ids == null) {
            throw ApiException.invalid("tokens", "\"tokens\" (an array of token ids) is required");
        }
        BloomServer.json(res, 200, JSON.createObjectNode().put("content", model.decode(ids, false)));
    }

    // ------------------------------------------------------------------------------------------ generation

    /** {@code POST /v1/completions} or {@code /v1/chat/completions}. */
    void completions(ServerRequest req, ServerResponse res, boolean chat) throws IOException {
        JsonNode body = Requests.body(req);
        Requests.Plan plan = chat ? Requests.chat(body, config, model) : Requests.completion(body, model);
        Run run = new Run(plan, chat);
        if (run.choices > limit) {
            throw ApiException.invalid(chat ? "n" : "prompt", "the request asks for " + run.choices
                    + " completions (prompts times n); the server decodes " + batch.maxSequences() + " and queues "
                    + config.queueSize() + " at most");
        }
        if (metrics.inFlight.addAndGet(run.choices) > limit) {
            metrics.inFlight.addAndGet(-run.choices);
            metrics.rejectedFull.increment();
            throw new ApiException(503, "server_error", "the server is busy: " + batch.maxSequences()
                    + " completions are decoding and " + config.queueSize() + " may wait; retry later", null,
                    "server_overloaded");
        }
        try {
            run.submit();
            if (plan.stream()) {
                run.stream(res);
            } else {
                run.respond(res);
            }
        } finally {
            run.release();
        }
    }

    /**
     * A request's config for one prompt, its max_tokens capped at a sequence's share of the cells (contextSize /
     * maxSequences, as llama-server's per-slot context) less the prompt: one request asking for a huge max_tokens
     * would otherwise reserve the whole cache and hold every other request back. Such a choice ends with
     * finish_reason "length".
     */
    private GenerationConfig capped(GenerationConfig config, int promptLength) {
        int share = batch.contextSize() / batch.maxSequences();
        int cap = Math.max(1, share - promptLength);
        return config.maxTokens() > cap ? config.maxTokens(cap) : config;
    }

    /** What a listener saw of one token, for a stream or for logprobs. */
    private record Piece(int choice, int tokenId, String text, TokenLogprobs logprobs) {}

    /** The end of one choice: its completion, or why it failed. */
    private record Done(int choice, Completion completion, Throwable failure) {}

    /** One HTTP request's generations: every prompt times n choices. */
    private final class Run {
        final Requests.Plan plan;
        final boolean chat;
        final String id;
        final long created = System.currentTimeMillis() / 1000;
        final int choices;
        final List<CompletableFuture<?>> futures = new ArrayList<>();
        final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        final List<List<Piece>> pieces = new ArrayList<>(); // per choice, for logprobs (non-streaming)
        private boolean released;

        Run(Requests.Plan plan, boolean chat) {
            this.plan = plan;
            this.chat = chat;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
            this.choices = plan.prompts().size() * plan.n();
            for (int i = 0; i < choices; i++) {
                pieces.add(new ArrayList<>());
            }
        }

        /** Gives the request's completions back to the queue limit, once: when they are done or abandoned. */
        void release() {
            if (!released) {
                released = true;
                metrics.inFlight.addAndGet(-choices);
            }
        }

        /** Submits every prompt; a refused one cancels those already queued. */
        void submit() {
            try {
                for (int p = 0; p < plan.prompts().size(); p++) {
                    int[] ids = plan.prompts().get(p);
                    int base = p * plan.n();
                    GenerationConfig choiceConfig = capped(plan.config(), ids.length);
                    if (plan.n() == 1) {
                        CompletableFuture<Completion> f = batch.submit(ids, choiceConfig,
                                new dev.bloom4j.TokenListener() {
                                    @Override
                                    public boolean onToken(int tokenId, String text) {
                                        return onToken(tokenId, text, null);
                                    }

                                    @Override
                                    public boolean onToken(int tokenId, String text, TokenLogprobs logprobs) {
                                        return take(new Piece(base, tokenId, text, logprobs));
                                    }
                                });
                        f.whenComplete((c, t) -> events.add(new Done(base, c, t)));
                        futures.add(f);
                    } else {
                        CompletableFuture<List<Completion>> f = batch.submitSamples(ids, choiceConfig.n(plan.n()),
                                new BatchSession.SampleListener() {
                                    @Override
                                    public boolean onToken(int sample, int tokenId, String text,
                                                           TokenLogprobs logprobs) {
                                        return take(new Piece(base + sample, tokenId, text, logprobs));
                                    }

                                    @Override
                                    public void onSampleDone(int sample, Completion completion) {
                                        // each choice's end as it happens, not when the last sample ends
                                        events.add(new Done(base + sample, completion, null));
                                    }
                                });
                        f.whenComplete((list, t) -> {
                            if (t != null) {
                                for (int i = 0; i < plan.n(); i++) {
                                    events.add(new Done(base + i, null, t));
                                }
                            }
                        });
                        futures.add(f);
                    }
                }
            } catch (ContextFullException e) {
                cancel();
                throw ApiException.invalid(chat ? "messages" : "prompt", e.getMessage(), "context_length_exceeded");
            } catch (IllegalArgumentException e) {
                cancel();
                throw ApiException.invalid(e.getMessage().startsWith("config.n()") ? "n" : chat ? "messages" : "prompt",
                        e.getMessage());
            } catch (IllegalStateException e) {
                cancel();
                throw new ApiException(503, "server_error", "the server is shutting down", null, null);
            }
        }

        /**
         * On the scheduler thread: queue the piece for the stream, or keep it for logprobs. The end-of-sequence token
         * is dropped: it has no text, and OpenAI's logprobs do not list it.
         */
        private boolean take(Piece piece) {
            if (piece.tokenId() == eos) {
                return true;
            }
            if (plan.stream()) {
                events.add(piece);
            } else if (piece.logprobs() != null) {
                synchronized (pieces) {
                    pieces.get(piece.choice()).add(piece);
                }
            }
            return true;
        }

        void cancel() {
            for (CompletableFuture<?> f : futures) {
                f.cancel(false);
            }
        }

        /** Waits for every choice and answers with one JSON object. */
        void respond(ServerResponse res) {
            Completion[] done = new Completion[choices];
            int received = 0;
            try {
                while (received < choices) {
                    Object e = events.take();
                    if (e instanceof Done d) {
                        if (d.failure() != null) {
                            cancel(); // the other choices of a failed request are not wanted
                            throw failure(d.failure());
                        }
                        done[d.choice()] = d.completion();
                        received++;
                    }
                }
                release();
            } catch (InterruptedException e) {
                cancel();
                Thread.currentThread().interrupt();
                throw new ApiException(503, "server_error", "interrupted", null, null);
            }
            ObjectNode body = envelope(chat ? "chat.completion" : "text_completion");
            ArrayNode array = body.putArray("choices");
            for (int i = 0; i < choices; i++) {
                Completion c = done[i];
                ObjectNode choice = array.addObject();
                choice.put("index", i);
                String prefix = plan.echo() ? plan.texts().get(i / plan.n()) : "";
                List<Piece> lp;
                synchronized (pieces) {
                    lp = List.copyOf(pieces.get(i));
                }
                if (chat) {
                    choice.putObject("message").put("role", "assistant").put("content", c.text());
                    choice.set("logprobs", plan.logprobs() >= 0 ? chatLogprobs(lp) : null);
                } else {
                    choice.put("text", prefix + c.text());
                    choice.set("logprobs", plan.logprobs() >= 0
                            ? completionLogprobs(lp, prefix.codePointCount(0, prefix.length())) : null);
                }
                choice.put("finish_reason", finishReason(c.finishReason()));
            }
            body.set("usage", usage(done));
            BloomServer.json(res, 200, body);
        }

        /** Server-sent events: a chunk per token (per choice), the finish chunks, usage if asked, [DONE]. */
        void stream(ServerResponse res) {
            res.status(Status.OK_200);
            res.headers().set(HeaderNames.CONTENT_TYPE, "text/event-stream");
            Completion[] done = new Completion[choices];
            int[] offsets = new int[choices];
            SseSink sink = null;
            try {
                sink = res.sink(SseSink.TYPE);
                for (int i = 0; i < choices; i++) {
                    if (chat) {
                        ObjectNode chunk = envelope("chat.completion.chunk");
                        ObjectNode choice = chunk.putArray("choices").addObject().put("index", i);
                        choice.putObject("delta").put("role", "assistant").put("content", "");
                        choice.putNull("logprobs");
                        choice.putNull("finish_reason");
                        emit(sink, chunk);
                    } else if (plan.echo()) {
                        String prompt = plan.texts().get(i / plan.n());
                        emit(sink, textChunk(i, prompt, null, 0));
                        offsets[i] = prompt.codePointCount(0, prompt.length());
                    }
                }
                int received = 0;
                while (received < choices) {
                    Object e = events.poll(pingMillis, TimeUnit.MILLISECONDS);
                    if (e == null) {
                        // Waiting (queued, or behind a long prompt): an SSE comment, which clients ignore, finds out
                        // whether the client is still there.
                        sink.emit(SseEvent.builder().comment("waiting").build());
                        continue;
                    }
                    if (e instanceof Piece p) {
                        if (p.text().isEmpty() && p.logprobs() == null) {
                            continue;
                        }
                        emit(sink, chat ? deltaChunk(p) : textChunk(p.choice(), p.text(), p.logprobs(),
                                offsets[p.choice()]));
                        offsets[p.choice()] += p.text().codePointCount(0, p.text().length());
                    } else if (e instanceof Done d) {
                        if (d.failure() != null) {
                            ApiException error = failure(d.failure());
                            cancel();
                            emit(sink, BloomServer.errorNode(error));
                            sink.close();
                            return;
                        }
                        done[d.choice()] = d.completion();
                        received++;
                        if (received == choices) {
                            release(); // generation is over, whatever the client still has to read
                        }
                        emit(sink, finishChunk(d.choice(), d.completion().finishReason()));
                    }
                }
                if (plan.includeUsage()) {
                    ObjectNode chunk = envelope(chat ? "chat.completion.chunk" : "text_completion");
                    chunk.putArray("choices");
                    chunk.set("usage", usage(done));
                    emit(sink, chunk);
                }
                sink.emit(SseEvent.create(DONE));
                sink.close();
            } catch (InterruptedException e) {
                cancel();
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                // Writing failed: the client went away. Its sequences stop at the next step and free their cells.
                cancel();
                if (causedByIo(e)) {
                    metrics.cancelledByClient.increment();
                } else {
                    throw e;
                }
            }
        }

        private void emit(SseSink sink, ObjectNode chunk) {
            try {
                sink.emit(SseEvent.create(JSON.writeValueAsBytes(chunk)));
            } catch (JacksonException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        private ObjectNode textChunk(int index, String text, TokenLogprobs logprobs, int offset) {
            ObjectNode chunk = envelope("text_completion");
            ObjectNode choice = chunk.putArray("choices").addObject();
            choice.put("text", text).put("index", index);
            choice.set("logprobs", logprobs == null ? null
                    : completionLogprobs(List.of(new Piece(index, logprobs.tokenId(), text, logprobs)), offset));
            choice.putNull("finish_reason");
            return chunk;
        }

        private ObjectNode deltaChunk(Piece p) {
            ObjectNode chunk = envelope("chat.completion.chunk");
            ObjectNode choice = chunk.putArray("choices").addObject().put("index", p.choice());
            choice.putObject("delta").put("content", p.text());
            choice.set("logprobs", p.logprobs() == null ? null : chatLogprobs(List.of(p)));
            choice.putNull("finish_reason");
            return chunk;
        }

        private ObjectNode finishChunk(int index, FinishReason reason) {
            ObjectNode chunk = envelope(chat ? "chat.completion.chunk" : "text_completion");
            ObjectNode choice = chunk.putArray("choices").addObject().put("index", index);
            if (chat) {
                choice.putObject("delta");
            } else {
                choice.put("text", "");
            }
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason(reason));
            return chunk;
        }

        private ObjectNode envelope(String object) {
            ObjectNode node = JSON.createObjectNode();
            node.put("id", id).put("object", object).put("created", created).put("model", config.modelName());
            node.put("system_fingerprint", "bloom4j");
            return node;
        }

        private ObjectNode usage(Completion[] done) {
            long prompt = 0;
            for (int[] p : plan.prompts()) {
                prompt += p.length;
            }
            long generated = 0;
            for (Completion c : done) {
                generated += c == null ? 0 : c.generatedTokens();
            }
            return JSON.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", generated)
                    .put("total_tokens", prompt + generated);
        }

        /** The legacy completions format: tokens, token_logprobs, top_logprobs, text_offset. */
        private ObjectNode completionLogprobs(List<Piece> lp, int offset) {
            ObjectNode node = JSON.createObjectNode();
            ArrayNode tokens = node.putArray("tokens");
            ArrayNode values = node.putArray("token_logprobs");
            ArrayNode tops = node.putArray("top_logprobs");
            ArrayNode offsets = node.putArray("text_offset");
            int at = offset;
            for (Piece p : lp) {
                TokenLogprobs l = p.logprobs();
                tokens.add(tokenText.of(l.tokenId()).text());
                values.add(l.logprob());
                ObjectNode top = tops.addObject();
                int[] ids = l.topIds();
                float[] lps = l.topLogprobs();
                for (int k = 0; k < ids.length; k++) {
                    String t = tokenText.of(ids[k]).text();
                    if (!top.has(t)) {
                        top.put(t, lps[k]);
                    }
                }
                offsets.add(at);
                at += p.text().codePointCount(0, p.text().length()); // OpenAI's offsets count characters
            }
            return node;
        }

        /** The chat format: content entries with token, logprob, bytes and top_logprobs. */
        private ObjectNode chatLogprobs(List<Piece> lp) {
            ObjectNode node = JSON.createObjectNode();
            ArrayNode content = node.putArray("content");
            for (Piece p : lp) {
                TokenLogprobs l = p.logprobs();
                ObjectNode entry = tokenEntry(content.addObject(), l.tokenId(), l.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                int[] ids = l.topIds();
                float[] lps = l.topLogprobs();
                for (int k = 0; k < ids.length && k < plan.logprobs(); k++) {
                    tokenEntry(top.addObject(), ids[k], lps[k]);
                }
            }
            node.putNull("refusal");
            return node;
        }

        private ObjectNode tokenEntry(ObjectNode entry, int tokenId, float logprob) {
            TokenText.Piece piece = tokenText.of(tokenId);
            entry.put("token", piece.text()).put("logprob", logprob);
            ArrayNode bytes = entry.putArray("bytes");
            for (byte b : piece.bytes()) {
                bytes.add(b & 0xff);
            }
            return entry;
        }
    }

    /** Whether a write failed for a connection's sake (the client went away), not for a bug. */
    private static boolean causedByIo(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause()) {
            if (x instanceof java.io.IOException || x instanceof io.helidon.webserver.ServerConnectionException
                    || x instanceof java.io.UncheckedIOException) {
                return true;
            }
        }
        return false;
    }

    /** A failed generation as the error the client gets. */
    private static ApiException failure(Throwable t) {
        Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        if (cause instanceof CancellationException) {
            return new ApiException(503, "server_error", "the request was cancelled: the server is shutting down",
                    null, null);
        }
        if (cause instanceof InvalidArgumentException || cause instanceof IllegalArgumentException) {
            return ApiException.invalid(null, cause.getMessage());
        }
        return new ApiException(500, "server_error", "generation failed: " + cause.getMessage(), null, null);
    }

    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case EOS, STOP -> "stop";
            case LENGTH, CONTEXT_FULL -> "length";
            case CANCELLED -> "cancelled";
        };
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }
}
