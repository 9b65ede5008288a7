package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_INT;
import static dev.bloom4j.bindings.internal.bloom_h.C_POINTER;

import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A generation delivered one {@link Token} per {@link #next()}, on the session's thread. Obtain one from
 * {@link BloomSession#iterate}; {@link BloomSession#stream} wraps one in a {@code Stream}. Close it (try-with-resources):
 * closing before the end cancels the generation and frees its sampler.
 * {@snippet :
 * try (TokenIterator tokens = session.iterate("Once upon a time", GenerationConfig.greedy().maxTokens(40))) {
 *     while (tokens.hasNext()) {
 *         System.out.print(tokens.next().text());
 *     }
 *     Completion c = tokens.completion();   // available once hasNext() returned false
 *     System.err.println(c.finishReason());
 * }
 * }
 *
 * <p>It yields exactly what a {@link TokenListener} passed to {@link BloomSession#generate(int[], GenerationConfig,
 * TokenListener)} receives: every generated token (the end-of-sequence token with empty text), then, if text was
 * still held back at the end, one {@code Token(-1, text)}. Not closing it after having read a token is what a
 * listener returning {@code true} means; closing it is a listener returning {@code false}.
 */
public final class TokenIterator implements Iterator<Token>, AutoCloseable {

    /** Where the generation loop stands between two calls; mirrors the native loop of bloom_generate. */
    private enum Phase {
        /** At the top of the loop: the next step samples (or finds maxTokens reached). */
        SAMPLE,
        /** A token was delivered: it must be evaluated (or a finish reason found) before the next sample. */
        DELIVERED,
        /** A finish reason is set; what is held back still has to be delivered. */
        FLUSH,
        /** Nothing more will come. */
        DONE
    }

    private final BloomSession session;
    private final GenerationConfig config;
    private final Arena arena; // confined to the session's thread; frees the sampler and detokenizer
    private final MemorySegment sampler;
    private final MemorySegment detokenizer;
    private final MemorySegment tokenSlot;
    private final StopMatcher stops;
    private final int eos;
    private final int promptTokens;
    private final int reusedTokens;
    private final long prefillNanos;

    private Phase phase = Phase.SAMPLE;
    private FinishReason finishReason;
    private int generated;
    private int lastToken;
    private Token buffered;
    private final BloomSession.IntList ids = new BloomSession.IntList();
    private final StringBuilder text = new StringBuilder();
    private long decodeNanos;
    private long stepStart; // System.nanoTime() at the start of the running step, 0 between steps
    private Completion completion;

    /** Evaluates the prompt the way bloom_generate does, so that both paths start from the same state. */
    TokenIterator(BloomSession session, int[] prompt, GenerationConfig config) {
        this.session = session;
        this.config = config;
        this.stops = new StopMatcher(config.stop());
        this.eos = session.model().infoUnchecked().eosToken().orElse(-1);
        this.promptTokens = prompt.length;
        Arena arena = Arena.ofConfined();
        try {
            this.sampler = session.newSampler(arena, config);
            MemorySegment out = arena.allocate(C_POINTER);
            // skip_special as in bloom_generate: special tokens produce no text.
            Native.check(bloom_h.bloom_detokenizer_init(out, session.model().handle(), true));
            this.detokenizer = out.get(C_POINTER, 0).reinterpret(arena, bloom_h::bloom_detokenizer_free);
            this.tokenSlot = arena.allocate(C_INT);

            // Reuse the cached prefix, but evaluate at least the last prompt token: its logits start generation.
            int[] cached = session.cachedTokensUnchecked();
            int reuse = 0;
            while (reuse < cached.length && reuse + 1 < prompt.length && cached[reuse] == prompt[reuse]) {
                reuse++;
            }
            Native.check(bloom_h.bloom_context_truncate(session.context(), reuse));
            this.reusedTokens = reuse;
            long t0 = System.nanoTime();
            session.decodeUnchecked(prompt, reuse, prompt.length, false);
            this.prefillNanos = System.nanoTime() - t0;
            for (int token : prompt) {
                Native.check(bloom_h.bloom_sampler_accept(sampler, token));
            }
            this.arena = arena;
            arena = null;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /**
     * Whether another token follows; computes it (sampling and evaluating on this thread) if needed.
     *
     * @throws IllegalStateException called from a thread other than the session's
     */
    @Override
    public boolean hasNext() {
        session.checkThread();
        if (buffered == null && phase != Phase.DONE) {
            buffered = step();
        }
        return buffered != null;
    }

    /** The next token. */
    @Override
    public Token next() {
        if (!hasNext()) {
            throw new NoSuchElementException(phase == Phase.DONE && finishReason != null
                    ? "generation finished: " + finishReason.jsonName()
                    : "generation finished");
        }
        Token t = buffered;
        buffered = null;
        return t;
    }

    /**
     * The result, once the iterator is exhausted or closed.
     *
     * @throws IllegalStateException the generation is still running
     */
    public Completion completion() {
        if (completion == null) {
            throw new IllegalStateException("the generation has not finished: read until hasNext() is false, or close()");
        }
        return completion;
    }

    /**
     * Cancels the generation if it is still running ({@link FinishReason#CANCELLED}) and frees its sampler.
     * Idempotent.
     */
    @Override
    public void close() {
        if (completion != null) {
            return;
        }
        session.checkThread();
        if (buffered != null) {
            buffered = null; // computed but never handed out: it does not count as delivered
        }
        if (phase != Phase.DONE) {
            finishReason = FinishReason.CANCELLED;
            phase = Phase.DONE;
        }
        finish();
    }

    /** One step of bloom_generate's loop, stopping at the next delivered token; null when done. */
    private Token step() {
        stepStart = System.nanoTime();
        try {
            while (true) {
                switch (phase) {
                    case DELIVERED -> {
                        if (finishReason == FinishReason.STOP || generated >= config.maxTokens()) {
                            phase = finishReason == FinishReason.STOP ? Phase.FLUSH : Phase.SAMPLE;
                        } else if (bloom_h.bloom_context_n_past(session.context()) >= session.contextSizeUnchecked()) {
                            finishReason = FinishReason.CONTEXT_FULL;
                            phase = Phase.FLUSH;
                        } else {
                            session.decodeUnchecked(new int[] {lastToken}, 0, 1, false);
                            phase = Phase.SAMPLE;
                        }
                    }
                    case SAMPLE -> {
                        if (generated >= config.maxTokens()) {
                            finishReason = FinishReason.LENGTH;
                            phase = Phase.FLUSH;
                            continue;
                        }
                        Native.check(bloom_h.bloom_sampler_sample(tokenSlot, sampler, session.context()));
                        int token = tokenSlot.get(C_INT, 0);
                        Native.check(bloom_h.bloom_sampler_accept(sampler, token));
                        generated++;
                        if (token == eos && !config.ignoreEos()) {
                            finishReason = FinishReason.EOS;
                            phase = Phase.FLUSH;
                            return deliver(token, "");
                        }
                        String piece = stops.push(push(token));
                        if (stops.stopped()) {
                            finishReason = FinishReason.STOP;
                        }
                        lastToken = token;
                        phase = Phase.DELIVERED;
                        return deliver(token, piece);
                    }
                    case FLUSH -> {
                        phase = Phase.DONE;
                        String rest = stops.push(flush()) + stops.flush();
                        Token last = rest.isEmpty() ? null : deliver(-1, rest);
                        finish();
                        return last;
                    }
                    case DONE -> {
                        return null;
                    }
                }
            }
        } catch (RuntimeException | Error e) {
            // A failed step leaves nothing to resume: free the sampler, and let close() be a no-op.
            phase = Phase.DONE;
            finishReason = FinishReason.CANCELLED;
            finish();
            throw e;
        } finally {
            decodeNanos += System.nanoTime() - stepStart;
            stepStart = 0;
        }
    }

    private Token deliver(int token, String piece) {
        if (token >= 0) {
            ids.add(token);
        }
        text.append(piece);
        return new Token(token, piece);
    }

    private void finish() {
        if (completion != null) {
            return;
        }
        arena.close();
        session.streamClosed(this);
        long decode = decodeNanos + (stepStart == 0 ? 0 : System.nanoTime() - stepStart);
        completion = new Completion(text.toString(), ids.toArray(), promptTokens, reusedTokens, generated,
                finishReason, Duration.ofNanos(prefillNanos), Duration.ofNanos(decode));
    }

    private String push(int token) {
        try (Arena tmp = Arena.ofConfined()) {
            return Native.sizedString(tmp, 64,
                    (buf, cap, len) -> bloom_h.bloom_detokenizer_push(buf, cap, len, detokenizer, token));
        }
    }

    private String flush() {
        try (Arena tmp = Arena.ofConfined()) {
            return Native.sizedString(tmp, 64,
                    (buf, cap, len) -> bloom_h.bloom_detokenizer_flush(buf, cap, len, detokenizer));
        }
    }
}
