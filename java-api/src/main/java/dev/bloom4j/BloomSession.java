package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_LONG;
import static dev.bloom4j.bindings.internal.bloom_h.C_POINTER;

import dev.bloom4j.bindings.internal.bloom_context_params;
import dev.bloom4j.bindings.internal.bloom_generate_params;
import dev.bloom4j.bindings.internal.bloom_generate_result;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_token_callback;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * An inference session on a {@link BloomModel}: a KV cache of the tokens evaluated so far plus compute buffers.
 * Generation reuses the cache: a prompt that starts with tokens already cached only evaluates the rest.
 * {@snippet :
 * try (var session = model.newSession(SessionConfig.builder().contextSize(1024).build())) {
 *     Completion c = session.generate("The capital of France is",
 *             GenerationConfig.greedy().maxTokens(20), System.out::print);
 *     System.err.printf("%n%s after %d tokens%n", c.finishReason(), c.generatedTokens());
 *
 *     try (Stream<Token> tokens = session.stream("Once upon a time", GenerationConfig.sampling().seed(7))) {
 *         tokens.limit(10).forEach(t -> System.out.print(t.text()));
 *     }                                                   // closing the stream cancels the rest
 * }
 * }
 *
 * <p>Lower-level use evaluates tokens and reads logits directly:
 * {@snippet :
 * session.evaluate(model.tokenize("Hello"));     // appended to the KV cache
 * float[] next = session.logits();               // scores for the next token, vocabularySize() wide
 * session.truncate(1);                           // keep only the first cached token
 * }
 *
 * <p><b>Threading.</b> A session belongs to the thread that created it; a call from any other thread throws
 * {@code IllegalStateException("BloomSession used from thread X but owned by Y")}. Use one session per thread
 * (sessions of the same model run in parallel). Listeners and token streams run on the owning thread.
 *
 * <p><b>Lifecycle.</b> {@link #close()} frees the KV cache; it is idempotent and lets the model be closed. Any
 * other call after close throws {@code IllegalStateException("BloomSession is closed")}. At most one token stream is
 * open per session: like a JDBC statement closing its previous result set, starting any other operation on the
 * session closes (cancels) an open stream first.
 */
public final class BloomSession implements AutoCloseable {

    private final BloomModel model;
    private final Thread owner;
    private final Arena arena; // confined to the owner; closing it frees the native context
    private final MemorySegment context;
    private final int contextSize;
    private final int vocabularySize;
    private boolean closed;
    private TokenIterator openStream;

    BloomSession(BloomModel model, SessionConfig config) {
        this.model = model;
        this.owner = Thread.currentThread();
        this.vocabularySize = model.infoUnchecked().vocabularySize();
        Arena arena = Arena.ofConfined();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = bloom_h.bloom_context_default_params(tmp);
            bloom_context_params.n_ctx(params, config.contextSize());
            bloom_context_params.n_batch(params, config.batchSize());
            bloom_context_params.n_threads(params, config.threads());
            MemorySegment out = tmp.allocate(C_POINTER);
            Native.check(bloom_h.bloom_context_init(out, model.handle(), params));
            this.context = out.get(C_POINTER, 0).reinterpret(arena, bloom_h::bloom_context_free);
            this.contextSize = bloom_h.bloom_context_n_ctx(context);
            this.arena = arena;
            arena = null;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /** The model this session runs. */
    public BloomModel model() {
        return model;
    }

    // ------------------------------------------------------------------------------------------ KV cache

    /** Capacity of the KV cache in tokens. */
    public int contextSize() {
        enter();
        return contextSize;
    }

    /** Number of tokens in the KV cache ({@code n_past}): the position the next evaluated token gets. */
    public int position() {
        enter();
        return bloom_h.bloom_context_n_past(context);
    }

    /** The token ids in the KV cache, oldest first. */
    public int[] cachedTokens() {
        enter();
        return cachedTokensUnchecked();
    }

    int[] cachedTokensUnchecked() {
        try (Arena tmp = Arena.ofConfined()) {
            return Native.sized(tmp, ValueLayout.JAVA_INT, bloom_h.bloom_context_n_past(context),
                    (buf, cap, len) -> bloom_h.bloom_context_get_tokens(buf, cap, len, context))
                    .toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * Drops every cached token at position {@code >= keep}, so the next evaluation continues after the first
     * {@code keep} tokens. Also discards the stored logits.
     *
     * @throws IllegalArgumentException {@code keep} is negative or larger than {@link #position()}
     */
    public void truncate(int keep) {
        enter();
        closeOpenStream();
        int position = bloom_h.bloom_context_n_past(context);
        if (keep < 0 || keep > position) {
            throw new IllegalArgumentException("keep must be in [0, " + position + "] (the cached tokens), got " + keep);
        }
        Native.check(bloom_h.bloom_context_truncate(context, keep));
    }

    /** Empties the KV cache. */
    public void clear() {
        truncate(0);
    }

    // ------------------------------------------------------------------------------------------ evaluation

    /** Evaluates tokens after those already cached, appending them to the KV cache; keeps the last logits row. */
    public void evaluate(int[] tokens) {
        evaluate(tokens, false);
    }

    /**
     * Evaluates tokens after those already cached (positions {@link #position()} onwards), appending them to the
     * KV cache, in chunks of the session's batch size.
     *
     * @param allLogits keep the logits of every token of this call ({@link #logitsAll()}), not only the last
     * @throws IllegalArgumentException {@code tokens} is empty or holds an id outside [0, vocabularySize)
     * @throws ContextFullException     the tokens do not fit after those cached; nothing is evaluated
     */
    public void evaluate(int[] tokens, boolean allLogits) {
        Objects.requireNonNull(tokens, "tokens");
        enter();
        closeOpenStream();
        if (tokens.length == 0) {
            throw new IllegalArgumentException("tokens must not be empty");
        }
        model.checkTokenIds(tokens, "tokens");
        int position = bloom_h.bloom_context_n_past(context);
        if ((long) position + tokens.length > contextSize) {
            throw Native.javaSide(BloomStatus.CONTEXT_FULL, "cannot evaluate " + tokens.length + " tokens after the "
                    + position + " cached: the context holds " + contextSize);
        }
        decodeUnchecked(tokens, 0, tokens.length, allLogits);
    }

    void decodeUnchecked(int[] tokens, int from, int to, boolean allLogits) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment segment = tmp.allocate(ValueLayout.JAVA_INT, to - from);
            MemorySegment.copy(tokens, from, segment, ValueLayout.JAVA_INT, 0, to - from);
            Native.check(bloom_h.bloom_context_decode(context, segment, to - from, allLogits));
        }
    }

    /**
     * The scores of the next token after the last evaluated one: {@code vocabularySize} raw logits (before any
     * softmax or sampling).
     *
     * @throws IllegalStateException nothing was evaluated since the session was created, cleared or truncated
     */
    public float[] logits() {
        enter();
        closeOpenStream();
        try (Arena tmp = Arena.ofConfined()) {
            LogitRows rows = logitRows(tmp);
            return rows.row(rows.count - 1);
        }
    }

    /**
     * The logits of every token of the last {@link #evaluate(int[], boolean) evaluate(tokens, true)}, oldest
     * first; after an evaluation without {@code allLogits}, only the last row.
     *
     * @throws IllegalStateException nothing was evaluated since the session was created, cleared or truncated
     */
    public float[][] logitsAll() {
        enter();
        closeOpenStream();
        try (Arena tmp = Arena.ofConfined()) {
            LogitRows rows = logitRows(tmp);
            float[][] out = new float[rows.count][];
            for (int i = 0; i < rows.count; i++) {
                out[i] = rows.row(i);
            }
            return out;
        }
    }

    /** Borrowed native logits, copied row by row before the next native call can invalidate them. */
    private record LogitRows(MemorySegment data, int count, int width) {
        float[] row(int i) {
            return data.asSlice((long) i * width * Float.BYTES, (long) width * Float.BYTES)
                    .toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private LogitRows logitRows(Arena tmp) {
        if (bloom_h.bloom_context_n_past(context) == 0) {
            throw new IllegalStateException("no logits: nothing was evaluated since the session was created, "
                    + "cleared or truncated");
        }
        MemorySegment pointer = tmp.allocate(C_POINTER);
        MemorySegment rows = tmp.allocate(C_LONG);
        int status = bloom_h.bloom_context_get_logits(pointer, rows, context);
        if (status == bloom_h.BLOOM_ERR_INVALID_ARGUMENT()) {
            throw new IllegalStateException("no logits: nothing was evaluated since the session was created, "
                    + "cleared or truncated (" + Native.exception(status).nativeMessage() + ")");
        }
        Native.check(status);
        int count = Math.toIntExact(rows.get(C_LONG, 0));
        long bytes = (long) count * vocabularySize * Float.BYTES;
        return new LogitRows(pointer.get(C_POINTER, 0).reinterpret(bytes), count, vocabularySize);
    }

    // ------------------------------------------------------------------------------------------ generation

    /**
     * Generates a continuation of a text prompt and returns it whole.
     *
     * @see #generate(int[], GenerationConfig, TokenListener)
     */
    public Completion generate(String prompt, GenerationConfig config) {
        return generate(tokenizePrompt(prompt), config, (TokenListener) null);
    }

    /**
     * Generates a continuation of a text prompt, handing each piece of text to {@code onText} as soon as it is
     * final (never a split character; text that may start a stop string is held back until it is known not to).
     * {@snippet :
     * session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(20), System.out::print);
     * }
     *
     * @see #generate(int[], GenerationConfig, TokenListener)
     */
    public Completion generate(String prompt, GenerationConfig config, Consumer<String> onText) {
        Objects.requireNonNull(onText, "onText");
        return generate(tokenizePrompt(prompt), config, (id, text) -> {
            if (!text.isEmpty()) {
                onText.accept(text);
            }
            return true;
        });
    }

    /** Generates a continuation of a text prompt, token by token; see the {@code int[]} overload. */
    public Completion generate(String prompt, GenerationConfig config, TokenListener listener) {
        return generate(tokenizePrompt(prompt), config, listener);
    }

    /**
     * Generates a continuation of a tokenized prompt. The longest prefix of the prompt already in the KV cache is
     * reused (the rest of the cache is dropped), the remaining prompt tokens are evaluated, and tokens are then
     * sampled, streamed to {@code listener} and evaluated one at a time until {@link GenerationConfig#maxTokens()},
     * the end-of-sequence token, a stop string, a full context or the listener ends it. Sampling starts afresh
     * from {@link GenerationConfig#seed()} on every call; the prompt counts as seen for the penalties.
     *
     * <p>The listener sees every generated token, the end-of-sequence token included (with empty text, as Hugging
     * Face counts it in its output). If text is still held back when generation ends (the start of a stop string
     * that never completed), one last call delivers it with token id {@code -1}; its return value is ignored.
     *
     * @param listener receives tokens as they are generated; may be {@code null}
     * @throws IllegalArgumentException the prompt is empty or holds an id outside [0, vocabularySize)
     * @throws ContextFullException     the prompt alone does not fit in the context
     */
    public Completion generate(int[] promptIds, GenerationConfig config, TokenListener listener) {
        Objects.requireNonNull(promptIds, "promptIds");
        Objects.requireNonNull(config, "config");
        enter();
        closeOpenStream();
        checkPrompt(promptIds);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment sampler = newSampler(tmp, config);
            MemorySegment params = bloom_h.bloom_generate_default_params(tmp);
            bloom_generate_params.max_tokens(params, config.maxTokens());
            bloom_generate_params.ignore_eos(params, config.ignoreEos());
            List<String> stops = config.stop();
            if (!stops.isEmpty()) {
                MemorySegment pointers = tmp.allocate(C_POINTER, stops.size());
                MemorySegment lengths = tmp.allocate(C_LONG, stops.size());
                for (int i = 0; i < stops.size(); i++) {
                    MemorySegment text = Native.utf8(tmp, stops.get(i));
                    pointers.setAtIndex(C_POINTER, i, text);
                    lengths.setAtIndex(C_LONG, i, text.byteSize());
                }
                bloom_generate_params.stop(params, pointers);
                bloom_generate_params.stop_lens(params, lengths);
                bloom_generate_params.n_stop(params, stops.size());
            }
            CallbackRelay relay = new CallbackRelay(listener);
            bloom_generate_params.callback(params, bloom_token_callback.allocate(relay::apply, tmp));
            MemorySegment prompt = tmp.allocateFrom(ValueLayout.JAVA_INT, promptIds);
            MemorySegment result = bloom_generate_result.allocate(tmp);
            int status = bloom_h.bloom_generate(result, context, sampler, prompt, promptIds.length, params);
            if (relay.failure != null) {
                throw rethrow(relay.failure);
            }
            Native.check(status);
            return new Completion(
                    relay.text.toString(),
                    relay.ids.toArray(),
                    bloom_generate_result.n_prompt(result),
                    bloom_generate_result.n_reused(result),
                    bloom_generate_result.n_generated(result),
                    FinishReason.of(bloom_generate_result.finish_reason(result)),
                    millis(bloom_generate_result.prefill_ms(result)),
                    millis(bloom_generate_result.decode_ms(result)));
        }
    }

    private static Duration millis(double ms) {
        return Duration.ofNanos(Math.round(ms * 1e6));
    }

    /** Collects the callback's tokens and forwards them; an upcall must never throw, so failures are parked. */
    private static final class CallbackRelay {
        private final TokenListener listener;
        final IntList ids = new IntList();
        final StringBuilder text = new StringBuilder();
        Throwable failure;

        CallbackRelay(TokenListener listener) {
            this.listener = listener;
        }

        boolean apply(int token, MemorySegment textPointer, long textLength, MemorySegment userData) {
            try {
                String piece = textLength == 0 ? "" : Native.utf8(textPointer.reinterpret(textLength));
                if (token >= 0) {
                    ids.add(token);
                }
                text.append(piece);
                return listener == null || listener.onToken(token, piece);
            } catch (Throwable t) {
                failure = t;
                return false;
            }
        }
    }

    /**
     * Streams the continuation of a text prompt one token at a time. The stream must be closed (use
     * try-with-resources): closing it before the end cancels the generation. Stop strings, the end-of-sequence
     * token and {@link GenerationConfig#maxTokens()} behave exactly as in {@link #generate}, and for equal inputs
     * the tokens are the same as those a {@link TokenListener} receives.
     * {@snippet :
     * try (Stream<Token> tokens = session.stream("Once upon a time", GenerationConfig.greedy().maxTokens(30))) {
     *     tokens.map(Token::text).forEach(System.out::print);
     * }
     * }
     *
     * @throws IllegalArgumentException the prompt is empty
     * @throws ContextFullException     the prompt alone does not fit in the context
     */
    public Stream<Token> stream(String prompt, GenerationConfig config) {
        return stream(tokenizePrompt(prompt), config);
    }

    /** {@link #stream(String, GenerationConfig)} for a tokenized prompt. */
    public Stream<Token> stream(int[] promptIds, GenerationConfig config) {
        TokenIterator iterator = iterate(promptIds, config);
        return StreamSupport.stream(
                        Spliterators.spliteratorUnknownSize(iterator, Spliterator.ORDERED | Spliterator.NONNULL), false)
                .onClose(iterator::close);
    }

    /** Like {@link #stream(String, GenerationConfig)}, as an iterator that also reports the {@link Completion}. */
    public TokenIterator iterate(String prompt, GenerationConfig config) {
        return iterate(tokenizePrompt(prompt), config);
    }

    /**
     * Like {@link #stream(int[], GenerationConfig)}, as an iterator that also reports the {@link Completion}. The
     * prompt is evaluated before this method returns, so prompt errors surface here.
     */
    public TokenIterator iterate(int[] promptIds, GenerationConfig config) {
        Objects.requireNonNull(promptIds, "promptIds");
        Objects.requireNonNull(config, "config");
        enter();
        closeOpenStream();
        checkPrompt(promptIds);
        TokenIterator iterator = new TokenIterator(this, promptIds.clone(), config);
        openStream = iterator;
        return iterator;
    }

    // ------------------------------------------------------------------------------------------ lifecycle

    /**
     * Frees the KV cache and compute buffers, cancelling an open token stream. Idempotent; must be called on the
     * owning thread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkThread();
        closeOpenStream();
        closed = true;
        arena.close();
        model.sessionClosed();
    }

    @Override
    public String toString() {
        return "BloomSession[" + model.path() + ", owner=" + describe(owner) + (closed ? ", closed]" : "]");
    }

    // ------------------------------------------------------------------------------------------ internals

    /** Checks thread and state at the top of every public call. */
    private void enter() {
        checkThread();
        if (closed) {
            throw new IllegalStateException("BloomSession is closed");
        }
    }

    void checkThread() {
        Thread current = Thread.currentThread();
        if (current != owner) {
            throw new IllegalStateException("BloomSession used from thread " + describe(current) + " but owned by "
                    + describe(owner));
        }
    }

    void checkOpen() {
        checkThread();
        if (closed) {
            throw new IllegalStateException("BloomSession is closed");
        }
    }

    private static String describe(Thread t) {
        return "\"" + t.getName() + "\" (#" + t.threadId() + ")";
    }

    private void closeOpenStream() {
        if (openStream != null) {
            openStream.close(); // calls streamClosed()
        }
    }

    void streamClosed(TokenIterator iterator) {
        if (openStream == iterator) {
            openStream = null;
        }
    }

    private int[] tokenizePrompt(String prompt) {
        Objects.requireNonNull(prompt, "prompt");
        enter();
        if (prompt.isEmpty()) {
            throw new IllegalArgumentException("prompt must not be empty");
        }
        return model.tokenize(prompt);
    }

    private void checkPrompt(int[] promptIds) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("prompt must not be empty: generation needs at least one token");
        }
        model.checkTokenIds(promptIds, "prompt");
        if (promptIds.length > contextSize) {
            throw Native.javaSide(BloomStatus.CONTEXT_FULL, "the prompt has " + promptIds.length
                    + " tokens but the context holds " + contextSize);
        }
    }

    /** A native sampler owned by {@code owner}: freed when that arena closes. */
    MemorySegment newSampler(Arena owner, GenerationConfig config) {
        MemorySegment out = owner.allocate(C_POINTER);
        Native.check(bloom_h.bloom_sampler_init(out, model.handle(), config.samplerParams(owner)));
        return out.get(C_POINTER, 0).reinterpret(owner, bloom_h::bloom_sampler_free);
    }

    MemorySegment context() {
        return context;
    }

    int contextSizeUnchecked() {
        return contextSize;
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        // A listener cannot declare checked exceptions, but a sneaky throw can still produce one.
        throw new IllegalStateException("token listener failed", t);
    }

    /** A growable int list, to avoid boxing every generated id. */
    static final class IntList {
        private int[] data = new int[16];
        private int size;

        void add(int value) {
            if (size == data.length) {
                data = java.util.Arrays.copyOf(data, size * 2);
            }
            data[size++] = value;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(data, size);
        }
    }
}
