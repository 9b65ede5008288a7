package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_generate_result;
import dev.bloom4j.bindings.internal.bloom_generator_event;
import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 *
 * <p>It steps the same native generation loop as {@code generate} ({@code bloom_generator_step}), one native call
 * per token: the first {@link #hasNext()} evaluates the prompt.
 */
public final class TokenIterator implements Iterator<Token>, AutoCloseable {

    private final BloomSession session;
    private final Arena arena; // shared: sampler, parameters, event (the stream may change threads)
    private final MemorySegment generator; // borrows the sampler: freed before the arena closes
    private final MemorySegment event;
    private final BloomSession.IntList ids = new BloomSession.IntList();
    private final StringBuilder text = new StringBuilder();

    private Token buffered;
    private boolean ended; // the native side reported a finish reason
    private String tail; // text held back to the end, still to be delivered as Token(-1, tail)
    private Completion completion;
    private boolean freed;

    /**
     * Starts the native generator; the prompt is evaluated by the first step.
     *
     * @throws ContextFullException the prompt does not fit in the context
     */
    TokenIterator(BloomSession session, NativeContext context, int[] prompt, GenerationConfig config) {
        this.session = session;
        Arena arena = Arena.ofShared();  // the stream may be consumed from one thread, then another
        try {
            MemorySegment sampler = context.newSampler(arena, config, config.seed());
            this.generator = context.newGenerator(arena, sampler, prompt, config, 0);
            this.event = bloom_generator_event.allocate(arena);
            this.arena = arena;
            arena = null;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /**
     * Whether another token follows; computes it (sampling and evaluating on this thread) if needed. Any thread may
     * consume the stream, one at a time, as it may use the session.
     *
     * @throws ConcurrentUseException another thread is inside the session
     */
    @Override
    public boolean hasNext() {
        session.enter(false);
        try {
            if (buffered == null && completion == null) {
                buffered = step();
            }
            return buffered != null;
        } finally {
            session.leave();
        }
    }

    /** The next token. */
    @Override
    public Token next() {
        session.enter(false);
        try {
            if (!hasNext()) {
                throw new NoSuchElementException(completion == null ? "generation finished"
                        : "generation finished: " + completion.finishReason().jsonName());
            }
            Token t = buffered;
            buffered = null;
            return t;
        } finally {
            session.leave();
        }
    }

    /**
     * The result, once the iterator is exhausted or closed.
     *
     * @throws IllegalStateException the generation is still running
     */
    public Completion completion() {
        session.enter(false);
        try {
            if (completion == null) {
                throw new IllegalStateException(
                        "the generation has not finished: read until hasNext() is false, or close()");
            }
            return completion;
        } finally {
            session.leave();
        }
    }

    /**
     * Cancels the generation if it is still running ({@link FinishReason#CANCELLED}) and frees its native
     * generator and sampler. Idempotent.
     */
    @Override
    public void close() {
        session.enter(false);
        try {
            if (completion != null) {
                return;
            }
            buffered = null; // computed but never handed out
            finish(ended ? null : FinishReason.CANCELLED);
        } finally {
            session.leave();
        }
    }

    /** The next token to deliver, stepping the native generator at most once per generated token; null when done. */
    private Token step() {
        try {
            while (!ended) {
                Native.check(bloom_h.bloom_generator_step(event, generator));
                int token = bloom_generator_event.token(event);
                // Borrowed until the next step: copied right away.
                String piece = borrowed(bloom_generator_event.text(event), bloom_generator_event.text_len(event));
                if (bloom_generator_event.finish_reason(event) != -1) {
                    ended = true;
                    tail = borrowed(bloom_generator_event.tail(event), bloom_generator_event.tail_len(event));
                }
                if (token >= 0) {
                    ids.add(token);
                    text.append(piece);
                    return new Token(token, piece);
                }
                // token -1 without a finish reason: the prompt is still being evaluated; step again.
            }
        } catch (RuntimeException | Error e) {
            // A failed step leaves nothing to resume: free the generator, and let close() be a no-op.
            finish(FinishReason.CANCELLED);
            throw e;
        }
        Token last = tail == null || tail.isEmpty() ? null : new Token(-1, tail);
        tail = null;
        if (last != null) {
            text.append(last.text());
        }
        finish(null);
        return last;
    }

    private static String borrowed(MemorySegment pointer, long length) {
        return length == 0 ? "" : Native.utf8(pointer.reinterpret(length));
    }

    /** Reads the native result, frees the generator and sampler, and builds the completion. */
    private void finish(FinishReason override) {
        if (freed) {
            return;
        }
        freed = true;
        try {
            MemorySegment result = bloom_generate_result.allocate(arena);
            Native.check(bloom_h.bloom_generator_get_result(result, generator));
            completion = NativeContext.completion(result, text.toString(), ids.toArray(), override);
        } finally {
            bloom_h.bloom_generator_free(generator);
            arena.close();
            session.streamClosed(this);
        }
    }
}
