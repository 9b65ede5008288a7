package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_generate_params;
import dev.bloom4j.bindings.internal.bloom_generate_result;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_token_callback;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.atomic.AtomicReference;
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
 * <p>Scoring reads how likely the model finds a text, without sampling:
 * {@snippet :
 * float[] lp = session.logProbs(model.tokenize("Hello world"));   // lp[i] = log p(id i | ids before it); lp[0] NaN
 * Score s = session.score("The capital of France is Paris.");     // totals, mean NLL, perplexity
 * Perplexity p = session.perplexity(longText, PerplexityConfig.defaults());   // as llama-perplexity -c 512
 * }
 *
 * <p><b>Threading.</b> A session serves one thread at a time, any thread: it can move between threads freely
 * (an executor's tasks, virtual threads, a Kotlin coroutine that resumes on another dispatcher), one call after
 * another. A call while another thread is inside the session is refused with a {@link ConcurrentUseException} and
 * changes nothing. Listeners run on the thread of the call that invokes them; a token stream may be consumed from
 * one thread and then another. Sessions of the same model run in parallel. To serve many threads from one KV cache
 * at once, decoding their requests together, use a {@link BatchSession}.
 *
 * <p><b>Lifecycle.</b> {@link #close()} frees the KV cache; it is idempotent and lets the model be closed. Any
 * other call after close throws {@code IllegalStateException("BloomSession is closed")}. At most one token stream is
 * open per session: like a JDBC statement closing its previous result set, starting any other operation on the
 * session closes (cancels) an open stream first.
 */
public final class BloomSession implements AutoCloseable {

    private final BloomModel model;
    private final NativeContext context; // closing it frees the native context
    // The thread inside a call (null between calls) and how deeply; depth and the fields below are touched only by
    // that thread, and the hand-over of `user` orders them between threads.
    private final AtomicReference<Thread> user = new AtomicReference<>();
    private int depth;
    private volatile boolean closed;
    private TokenIterator openStream;

    BloomSession(BloomModel model, SessionConfig config) {
        this.model = model;
        this.context = new NativeContext(model, config);
    }

    /** The model this session runs. */
    public BloomModel model() {
        return model;
    }

    // ------------------------------------------------------------------------------------------ KV cache

    /** Capacity of the KV cache in tokens. */
    public int contextSize() {
        enter();
        try {
            return context.contextSize();
        } finally {
            leave();
        }
    }

    /** Most tokens evaluated in one graph: longer inputs are evaluated in pieces of this size. */
    public int batchSize() {
        enter();
        try {
            return context.batchSize();
        } finally {
            leave();
        }
    }

    /** The KV cache's element type: {@link KvCacheType#F32} or {@link KvCacheType#F16}, never {@code AUTO}. */
    public KvCacheType kvCacheType() {
        enter();
        try {
            return context.kvCacheType();
        } finally {
            leave();
        }
    }

    /** Whether attention runs fused: {@link FlashAttention#ON} or {@link FlashAttention#OFF}, never {@code AUTO}. */
    public FlashAttention flashAttention() {
        enter();
        try {
            return context.flashAttention();
        } finally {
            leave();
        }
    }

    /** Number of tokens in the KV cache ({@code n_past}): the position the next evaluated token gets. */
    public int position() {
        enter();
        try {
            return context.position();
        } finally {
            leave();
        }
    }

    /** The token ids in the KV cache, oldest first. */
    public int[] cachedTokens() {
        enter();
        try {
            return context.cachedTokens();
        } finally {
            leave();
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
        try {
            closeOpenStream();
            int position = context.position();
            if (keep < 0 || keep > position) {
                throw new IllegalArgumentException("keep must be in [0, " + position + "] (the cached tokens), got " + keep);
            }
            context.truncate(keep);
        } finally {
            leave();
        }
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
        try {
            closeOpenStream();
            if (tokens.length == 0) {
                throw new IllegalArgumentException("tokens must not be empty");
            }
            model.checkTokenIds(tokens, "tokens");
            int position = context.position();
            int contextSize = context.contextSize();
            if ((long) position + tokens.length > contextSize) {
                throw Native.javaSide(BloomStatus.CONTEXT_FULL, "cannot evaluate " + tokens.length + " tokens after the "
                        + position + " cached: the context holds " + contextSize);
            }
            context.decode(tokens, 0, tokens.length, allLogits);
        } finally {
            leave();
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
        try {
            closeOpenStream();
            try (Arena tmp = Arena.ofConfined()) {
                NativeContext.LogitRows rows = context.logitRows(tmp);
                return rows.row(rows.count() - 1);
            }
        } finally {
            leave();
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
        try {
            closeOpenStream();
            try (Arena tmp = Arena.ofConfined()) {
                NativeContext.LogitRows rows = context.logitRows(tmp);
                float[][] out = new float[rows.count()][];
                for (int i = 0; i < rows.count(); i++) {
                    out[i] = rows.row(i);
                }
                return out;
            }
        } finally {
            leave();
        }
    }

    // ------------------------------------------------------------------------------------------ scoring

    /**
     * The log-probability of each token given those before it: {@code result[i] = log p(ids[i] | ids[0..i-1])}
     * for {@code i >= 1} (natural log; a log-softmax over the whole vocabulary computed natively in double
     * precision, then rounded to float), and {@code result[0] = NaN}, since nothing predicts the first token.
     * {@snippet :
     * int[] ids = model.tokenize("The capital of France is Paris");
     * float[] lp = session.logProbs(ids);
     * double total = 0;
     * for (int i = 1; i < lp.length; i++) total += lp[i];        // log p(ids[1..] | ids[0])
     * }
     *
     * <p>The ids are evaluated from an empty KV cache (the session's cached tokens are dropped first) and are all
     * in the cache afterwards. They must fit in the context: this method never slides a window, because then
     * {@code result[i]} would no longer be conditioned on every token before it; for texts longer than the
     * context, {@link #perplexity(int[], PerplexityConfig, Perplexity.Listener)} scores in windows. Logit rows never
     * reach Java, and the native side holds them for at most one batch of tokens at a time.
     *
     * @return {@code ids.length} log-probabilities, entry 0 {@code NaN}
     * @throws IllegalArgumentException {@code ids} is empty or holds an id outside [0, vocabularySize)
     * @throws ContextFullException     {@code ids} is longer than {@link #contextSize()}; nothing is evaluated
     */
    public float[] logProbs(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        enter();
        try {
            closeOpenStream();
            if (ids.length == 0) {
                throw new IllegalArgumentException("ids must not be empty");
            }
            model.checkTokenIds(ids, "ids");
            if (ids.length > context.contextSize()) {
                throw Native.javaSide(BloomStatus.CONTEXT_FULL, "cannot score " + ids.length + " tokens: the context "
                        + "holds " + context.contextSize() + " (open the session with a larger contextSize, or score a long text "
                        + "in windows with perplexity())");
            }
            return Scoring.logProbs(context, ids.clone());
        } finally {
            leave();
        }
    }

    /**
     * Scores a text: its tokens (tokenized as {@link BloomModel#tokenize(String)} does, special tokens recognised,
     * no BOS added) and their {@linkplain #logProbs(int[]) log-probabilities}, with the totals Hugging Face's
     * {@code model(ids, labels=ids).loss} and its {@code exp} stand for.
     * {@snippet :
     * Score s = session.score("The capital of France is Paris.");
     * System.out.printf("mean NLL %.4f nats/token, perplexity %.2f%n", s.meanNegativeLogLikelihood(), s.perplexity());
     * }
     *
     * @throws IllegalArgumentException the text has fewer than 2 tokens (the first one has no prediction)
     * @throws ContextFullException     the text has more tokens than {@link #contextSize()}
     */
    public Score score(String text) {
        Objects.requireNonNull(text, "text");
        enter();
        try {
            return score(model.tokenize(text));
        } finally {
            leave();
        }
    }

    /**
     * Scores token ids; see {@link #score(String)} and {@link #logProbs(int[])}.
     *
     * @throws IllegalArgumentException fewer than 2 ids, or an id outside [0, vocabularySize)
     * @throws ContextFullException     more ids than {@link #contextSize()}
     */
    public Score score(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        enter();
        try {
            if (ids.length < 2) {
                throw new IllegalArgumentException("scoring needs at least 2 tokens (the first one has no prediction), "
                        + "got " + ids.length);
            }
            return new Score(ids, logProbs(ids));
        } finally {
            leave();
        }
    }

    /**
     * The perplexity of a long text as llama.cpp's {@code llama-perplexity} computes it; see {@link Perplexity}
     * for the definition and {@link PerplexityConfig} for the options.
     *
     * @see #perplexity(int[], PerplexityConfig, Perplexity.Listener)
     */
    public Perplexity perplexity(String text, PerplexityConfig config) {
        return perplexity(text, config, null);
    }

    /**
     * The perplexity of a long text as llama.cpp's {@code llama-perplexity} computes it, reporting the running
     * estimate after each window. The text is tokenized without parsing special tokens ({@code </s>} written in
     * the text is plain text), as llama.cpp's tool does.
     *
     * @see #perplexity(int[], PerplexityConfig, Perplexity.Listener)
     */
    public Perplexity perplexity(String text, PerplexityConfig config, Perplexity.Listener listener) {
        Objects.requireNonNull(text, "text");
        enter();
        try {
            return perplexity(model.tokenize(text, false), config, listener);
        } finally {
            leave();
        }
    }

    /**
     * The perplexity of a tokenized text as llama.cpp's {@code llama-perplexity} computes it; see
     * {@link Perplexity} for the exact definition. {@code tokens} are the text's tokens without BOS: with
     * {@link PerplexityConfig#addBos()} it is put first here. Each window is evaluated from an empty KV cache, so
     * the session's cached tokens are dropped; afterwards the cache holds part of the last window.
     *
     * @param listener receives the running estimate after each window; may be {@code null}
     * @throws IllegalArgumentException the text has fewer than {@code 2 * contextSize} tokens (BOS included), the
     *                                  window is larger than this session's {@link #contextSize()}, an id is
     *                                  outside [0, vocabularySize), or {@code addBos} is set but the model has no
     *                                  BOS token
     */
    public Perplexity perplexity(int[] tokens, PerplexityConfig config, Perplexity.Listener listener) {
        Objects.requireNonNull(tokens, "tokens");
        Objects.requireNonNull(config, "config");
        enter();
        try {
            closeOpenStream();
            model.checkTokenIds(tokens, "tokens");
            if (config.contextSize() > context.contextSize()) {
                throw new IllegalArgumentException("the perplexity window of " + config.contextSize() + " tokens does not "
                        + "fit in this session's context of " + context.contextSize() + "; open the session with contextSize >= "
                        + config.contextSize());
            }
            int bos = -1;
            int[] all = tokens;
            if (config.addBos()) {
                bos = model.infoUnchecked().bosToken().orElseThrow(() -> new IllegalArgumentException(
                        "addBos is set but the model's tokenizer has no BOS token"));
                all = new int[tokens.length + 1];
                all[0] = bos;
                System.arraycopy(tokens, 0, all, 1, tokens.length);
            } else {
                all = tokens.clone();
            }
            if (all.length < 2L * config.contextSize()) {
                throw new IllegalArgumentException("the text has " + all.length + " tokens" + (config.addBos()
                        ? " (BOS included)" : "") + " but perplexity with a context of " + config.contextSize()
                        + " needs at least " + 2L * config.contextSize() + " (2 x context, as llama-perplexity requires)");
            }
            return Scoring.perplexity(context, all, config, bos, listener);
        } finally {
            leave();
        }
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
        try {
            closeOpenStream();
            checkPrompt(promptIds);
            checkNoLogprobs(config);
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment sampler = context.newSampler(tmp, config, config.seed());
                MemorySegment params = NativeContext.generateParams(tmp, config, 0);
                CallbackRelay relay = new CallbackRelay(listener);
                bloom_generate_params.callback(params, bloom_token_callback.allocate(relay::apply, tmp));
                MemorySegment prompt = tmp.allocateFrom(ValueLayout.JAVA_INT, promptIds);
                MemorySegment result = bloom_generate_result.allocate(tmp);
                int status = bloom_h.bloom_generate(result, context.handle(), sampler, prompt, promptIds.length, params);
                if (relay.failure != null) {
                    throw rethrow(relay.failure);
                }
                Native.check(status);
                return NativeContext.completion(result, relay.text.toString(), relay.ids.toArray(), null);
            }
        } finally {
            leave();
        }
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
        try {
            closeOpenStream();
            checkPrompt(promptIds);
            checkNoLogprobs(config);
            TokenIterator iterator = new TokenIterator(this, context, promptIds.clone(), config);
            openStream = iterator;
            return iterator;
        } finally {
            leave();
        }
    }

    // ------------------------------------------------------------------------------------------ lifecycle

    /**
     * Frees the KV cache and compute buffers, cancelling an open token stream. Idempotent; any thread may close the
     * session, but not while another thread is inside it ({@link ConcurrentUseException}).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        enter(false);
        try {
            if (closed) {
                return;
            }
            closeOpenStream();
            closed = true;
            context.close();
            model.sessionClosed();
        } finally {
            leave();
        }
    }

    @Override
    public String toString() {
        return "BloomSession[" + model.path() + (closed ? ", closed]" : "]");
    }

    // ------------------------------------------------------------------------------------------ internals

    /**
     * Marks the calling thread as inside the session until the matching {@link #leave()}, at the top of every
     * public call (the same thread may enter again, from a listener). Another thread inside it is concurrent use:
     * a {@link ConcurrentUseException}, before anything changes. A closed session is an IllegalStateException.
     * Handing the session over (one call on one thread, the next on another) is what it is for: the atomic
     * hand-over also orders the memory of the two calls.
     */
    private void enter() {
        enter(true);
    }

    /** {@link #enter()}; a token stream that finished with its closed session passes {@code mustBeOpen} false. */
    void enter(boolean mustBeOpen) {
        claim(Thread.currentThread());
        if (mustBeOpen && closed) {
            leave();
            throw new IllegalStateException("BloomSession is closed");
        }
    }

    private void claim(Thread current) {
        if (user.get() == current) {
            depth++;
            return;
        }
        if (!user.compareAndSet(null, current)) {
            Thread other = user.get();
            throw Native.javaSide(BloomStatus.BUSY, "BloomSession used by thread " + describe(current)
                    + " while thread " + (other == null ? "(another)" : describe(other)) + " is inside it: a "
                    + "session serves one thread at a time (use one session per thread, or a BatchSession)");
        }
        depth = 1;
    }

    /** Ends what {@link #enter()} began. */
    void leave() {
        if (--depth == 0) {
            user.set(null);
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
        try {
            if (prompt.isEmpty()) {
                throw new IllegalArgumentException("prompt must not be empty");
            }
            return model.tokenize(prompt);
        } finally {
            leave();
        }
    }

    /** Log-probabilities per generated token are a {@link BatchSession} feature; refused here, not ignored. */
    private static void checkNoLogprobs(GenerationConfig config) {
        if (config.logprobs() >= 0) {
            throw new IllegalArgumentException("config.logprobs() is " + config.logprobs() + ", but a BloomSession "
                    + "does not report log-probabilities per generated token: use a BatchSession (its listeners "
                    + "receive them), or Scoring for the log-probabilities of given text");
        }
    }

    private void checkPrompt(int[] promptIds) {
        model.checkPrompt(promptIds, context.contextSize());
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
