package dev.bloom4j;

import static dev.bloom4j.bindings.internal.bloom_h.C_LONG;
import static dev.bloom4j.bindings.internal.bloom_h.C_POINTER;

import dev.bloom4j.bindings.internal.bloom_context_params;
import dev.bloom4j.bindings.internal.bloom_generate_params;
import dev.bloom4j.bindings.internal.bloom_generate_result;
import dev.bloom4j.bindings.internal.bloom_h;
import dev.bloom4j.bindings.internal.bloom_sampler_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;

/**
 * A native {@code bloom_context} and the calls on it, without the rules of the public types around it:
 * {@link BloomSession} (one thread at a time, sequence 0) and {@link BatchSession} (its scheduler thread, many
 * sequences) check state, threads and arguments first, then call here; the native context refuses concurrent use
 * itself (BLOOM_ERR_BUSY). The context lives in a shared arena, so whichever thread holds the session may use it;
 * {@link #close()} frees it.
 */
final class NativeContext implements AutoCloseable {

    private final BloomModel model;
    private final Arena arena; // shared; closing it frees the native context
    private final MemorySegment handle;
    private final int contextSize;
    private final int batchSize;
    private final int maxSequences;
    private final KvCacheType kvCacheType;
    private final FlashAttention flashAttention;
    private final int vocabularySize;

    /**
     * Creates the native context on the calling thread.
     *
     * @throws BloomOutOfMemoryException the KV cache does not fit
     * @throws InvalidArgumentException  the native side refused a parameter
     */
    NativeContext(BloomModel model, SessionConfig config) {
        this.model = model;
        this.vocabularySize = model.infoUnchecked().vocabularySize();
        Arena arena = Arena.ofShared();  // a BloomSession moves between threads; BatchSession's are shared too
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = bloom_h.bloom_context_default_params(tmp);
            bloom_context_params.n_ctx(params, config.contextSize());
            bloom_context_params.n_batch(params, config.batchSize());
            bloom_context_params.n_threads(params, config.threads());
            bloom_context_params.type_kv(params, config.kvCacheType().code());
            bloom_context_params.flash_attn(params, config.flashAttention().code());
            bloom_context_params.n_seq_max(params, config.maxSequences());
            MemorySegment out = tmp.allocate(C_POINTER);
            Native.check(bloom_h.bloom_context_init(out, model.handle(), params));
            this.handle = out.get(C_POINTER, 0).reinterpret(arena, bloom_h::bloom_context_free);
            // The defaults set the size field, so the library writes exactly the struct this binding knows.
            MemorySegment resolved = bloom_h.bloom_context_default_params(tmp);
            Native.check(bloom_h.bloom_context_get_params(resolved, handle));
            this.contextSize = bloom_h.bloom_context_n_ctx(handle);
            this.batchSize = bloom_context_params.n_batch(resolved);
            this.maxSequences = bloom_context_params.n_seq_max(resolved);
            this.kvCacheType = KvCacheType.of(bloom_context_params.type_kv(resolved));
            this.flashAttention = FlashAttention.of(bloom_context_params.flash_attn(resolved));
            this.arena = arena;
            arena = null;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    BloomModel model() {
        return model;
    }

    MemorySegment handle() {
        return handle;
    }

    int contextSize() {
        return contextSize;
    }

    int batchSize() {
        return batchSize;
    }

    int maxSequences() {
        return maxSequences;
    }

    KvCacheType kvCacheType() {
        return kvCacheType;
    }

    FlashAttention flashAttention() {
        return flashAttention;
    }

    int vocabularySize() {
        return vocabularySize;
    }

    // ------------------------------------------------------------------------------------------ sequences

    /** The next position of sequence 0 (its cached tokens). */
    int position() {
        return bloom_h.bloom_context_n_past(handle);
    }

    /** The token ids of sequence 0, in position order. */
    int[] cachedTokens() {
        try (Arena tmp = Arena.ofConfined()) {
            return Native.sized(tmp, ValueLayout.JAVA_INT, bloom_h.bloom_context_n_past(handle),
                    (buf, cap, len) -> bloom_h.bloom_context_get_tokens(buf, cap, len, handle))
                    .toArray(ValueLayout.JAVA_INT);
        }
    }

    /** Drops sequence 0's tokens at positions {@code >= keep} and the stored logits. */
    void truncate(int keep) {
        Native.check(bloom_h.bloom_context_truncate(handle, keep));
    }

    /** Removes the cells of {@code sequence} at positions in [from, to); {@code to < 0}: to the end. */
    void removeCells(int sequence, int from, int to) {
        Native.check(bloom_h.bloom_context_seq_rm(handle, sequence, from, to));
    }

    /** Makes the cells of {@code source} at positions in [from, to) belong to {@code target} too (and only those). */
    void copyCells(int source, int target, int from, int to) {
        Native.check(bloom_h.bloom_context_seq_cp(handle, source, target, from, to));
    }

    /** Cells of the KV cache in use by any sequence, or reserved by a live generator's prompt. */
    int cellsUsed() {
        return bloom_h.bloom_context_cells_used(handle);
    }

    // ------------------------------------------------------------------------------------------ evaluation

    /** Evaluates {@code tokens[from..to)} after sequence 0's cached tokens. */
    void decode(int[] tokens, int from, int to, boolean allLogits) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment segment = tmp.allocate(ValueLayout.JAVA_INT, to - from);
            MemorySegment.copy(tokens, from, segment, ValueLayout.JAVA_INT, 0, to - from);
            Native.check(bloom_h.bloom_context_decode(handle, segment, to - from, allLogits));
        }
    }

    /** Borrowed native logits, copied row by row before the next native call can invalidate them. */
    record LogitRows(MemorySegment data, int count, int width) {
        float[] row(int i) {
            return data.asSlice((long) i * width * Float.BYTES, (long) width * Float.BYTES)
                    .toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * The rows of the last decode, borrowed until the next call on the context.
     *
     * @throws IllegalStateException nothing was evaluated since the context was created, cleared or truncated
     */
    LogitRows logitRows(Arena tmp) {
        if (bloom_h.bloom_context_n_past(handle) == 0) {
            throw new IllegalStateException("no logits: nothing was evaluated since the session was created, "
                    + "cleared or truncated");
        }
        MemorySegment pointer = tmp.allocate(C_POINTER);
        MemorySegment rows = tmp.allocate(C_LONG);
        int status = bloom_h.bloom_context_get_logits(pointer, rows, handle);
        if (status == bloom_h.BLOOM_ERR_INVALID_ARGUMENT()) {
            throw new IllegalStateException("no logits: nothing was evaluated since the session was created, "
                    + "cleared or truncated (" + Native.exception(status).nativeMessage() + ")");
        }
        Native.check(status);
        int count = Math.toIntExact(rows.get(C_LONG, 0));
        long bytes = (long) count * vocabularySize * Float.BYTES;
        return new LogitRows(pointer.get(C_POINTER, 0).reinterpret(bytes), count, vocabularySize);
    }

    /**
     * {@code out[outFrom + i] = log softmax(row i of the last decode)[tokens[from + i]]} for {@code i < n}, computed
     * natively in double precision.
     */
    void tokenLogProbs(int[] tokens, int from, int n, float[] out, int outFrom) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment targets = tmp.allocate(ValueLayout.JAVA_INT, n);
            MemorySegment.copy(tokens, from, targets, ValueLayout.JAVA_INT, 0, n);
            MemorySegment result = tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            Native.check(bloom_h.bloom_context_token_logprobs(result, handle, targets, n));
            MemorySegment.copy(result, ValueLayout.JAVA_FLOAT, 0, out, outFrom, n);
        }
    }

    // ------------------------------------------------------------------------------------------ generation

    /** A native sampler for {@code config} with its seed replaced by {@code seed}; freed when {@code owner} closes. */
    MemorySegment newSampler(Arena owner, GenerationConfig config, long seed) {
        MemorySegment raw = newSamplerRaw(config, seed);
        return raw.reinterpret(owner, bloom_h::bloom_sampler_free);
    }

    /** A native sampler the caller frees with {@code bloom_sampler_free}. */
    MemorySegment newSamplerRaw(GenerationConfig config, long seed) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment params = config.samplerParams(tmp);
            bloom_sampler_params.seed(params, seed);
            MemorySegment out = tmp.allocate(C_POINTER);
            Native.check(bloom_h.bloom_sampler_init(out, model.handle(), params));
            return out.get(C_POINTER, 0);
        }
    }

    /**
     * A {@code bloom_generate_params} for {@code config} in {@code sequence}, allocated in {@code arena} (the stop
     * strings too), starting from the native defaults so that new fields keep theirs.
     */
    static MemorySegment generateParams(Arena arena, GenerationConfig config, int sequence) {
        MemorySegment params = bloom_h.bloom_generate_default_params(arena);
        bloom_generate_params.max_tokens(params, config.maxTokens());
        bloom_generate_params.ignore_eos(params, config.ignoreEos());
        bloom_generate_params.seq_id(params, sequence);
        bloom_generate_params.n_logprobs(params, config.nativeLogprobs());
        List<String> stops = config.stop();
        if (!stops.isEmpty()) {
            MemorySegment pointers = arena.allocate(C_POINTER, stops.size());
            MemorySegment lengths = arena.allocate(C_LONG, stops.size());
            for (int i = 0; i < stops.size(); i++) {
                MemorySegment text = Native.utf8(arena, stops.get(i));
                pointers.setAtIndex(C_POINTER, i, text);
                lengths.setAtIndex(C_LONG, i, text.byteSize());
            }
            bloom_generate_params.stop(params, pointers);
            bloom_generate_params.stop_lens(params, lengths);
            bloom_generate_params.n_stop(params, stops.size());
        }
        return params;
    }

    /**
     * Starts a native generator of {@code prompt} in {@code sequence}; the caller frees it with
     * {@code bloom_generator_free} before the sampler and before {@code arena} closes (it holds the parameters).
     *
     * @throws ContextFullException the prompt does not fit in the context, or not in its free cells now
     */
    MemorySegment newGenerator(Arena arena, MemorySegment sampler, int[] prompt, GenerationConfig config,
                               int sequence) {
        MemorySegment params = generateParams(arena, config, sequence);
        MemorySegment promptSegment = arena.allocateFrom(ValueLayout.JAVA_INT, prompt);
        MemorySegment out = arena.allocate(C_POINTER);
        Native.check(bloom_h.bloom_generator_init(out, handle, sampler, promptSegment, prompt.length, params));
        return out.get(C_POINTER, 0);
    }

    /**
     * A {@link Completion} from a {@code bloom_generate_result} and the text and ids delivered to Java.
     *
     * @param finishReason replaces the native finish reason when not null (a generation cancelled from Java)
     */
    static Completion completion(MemorySegment result, String text, int[] ids, FinishReason finishReason) {
        return new Completion(
                text,
                ids,
                bloom_generate_result.n_prompt(result),
                bloom_generate_result.n_reused(result),
                bloom_generate_result.n_generated(result),
                finishReason != null ? finishReason : FinishReason.of(bloom_generate_result.finish_reason(result)),
                millis(bloom_generate_result.prefill_ms(result)),
                millis(bloom_generate_result.decode_ms(result)));
    }

    private static Duration millis(double ms) {
        return Duration.ofNanos(Math.round(ms * 1e6));
    }

    /** Frees the native context. Only on the creating thread; after it nothing else may be called. */
    @Override
    public void close() {
        arena.close();
    }
}
