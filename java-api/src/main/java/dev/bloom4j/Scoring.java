package dev.bloom4j;

import dev.bloom4j.bindings.internal.bloom_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Log-probabilities and perplexity on a session. Logits rows never come to Java: a full row is
 * {@code vocabularySize} floats (250,880 on BLOOM, 1 MB), so the log-softmax runs natively
 * ({@code bloom_context_token_logprobs}) and only one float per token crosses the boundary. Tokens are decoded in
 * pieces of at most the session's batch size, so the native side holds logits for one piece at a time.
 */
final class Scoring {

    private Scoring() {}

    /** See {@link BloomSession#logProbs(int[])}; arguments already checked. */
    static float[] logProbs(BloomSession session, int[] ids) {
        float[] out = new float[ids.length];
        out[0] = Float.NaN;
        session.clearUnchecked();
        int batch = session.batchSizeUnchecked();
        for (int from = 0; from < ids.length; from += batch) {
            int to = Math.min(ids.length, from + batch);
            session.decodeUnchecked(ids, from, to, true);
            // Row r of this piece predicts ids[from + r + 1]; the very last token predicts nothing.
            int targets = Math.min(to, ids.length - 1) - from;
            if (targets > 0) {
                tokenLogProbs(session, ids, from + 1, targets, out, from + 1);
            }
        }
        return out;
    }

    /** See {@link BloomSession#perplexity(int[], PerplexityConfig, Perplexity.Listener)}; arguments checked. */
    static Perplexity perplexity(BloomSession session, int[] tokens, PerplexityConfig config, int bos,
                                 Perplexity.Listener listener) {
        int n = config.contextSize();
        int stride = config.stride();
        int chunks = config.chunkCount(tokens.length);
        int scoredPerChunk = config.scoredTokensPerChunk();
        // Window positions firstScored .. n-2 predict the window's tokens firstScored+1 .. n-1. Position n-1 predicts
        // nothing, so it is not evaluated at all (attention is causal: leaving it out changes no other row).
        int firstScored = n - 1 - scoredPerChunk;
        int batch = session.batchSizeUnchecked();

        double[] running = new double[chunks];
        float[] logProbs = new float[scoredPerChunk];
        double nll = 0;
        double nll2 = 0;
        long count = 0;
        for (int chunk = 0; chunk < chunks; chunk++) {
            int start = config.strided() ? chunk * stride : chunk * n;
            int[] window = Arrays.copyOfRange(tokens, start, start + n);
            if (config.addBos() && !config.strided()) {
                window[0] = bos;
            }
            session.clearUnchecked();
            if (firstScored > 0) {
                // Context only: the native side keeps just the last row of logits for these.
                session.decodeUnchecked(window, 0, firstScored, false);
            }
            for (int from = firstScored; from < n - 1; from += batch) {
                int to = Math.min(n - 1, from + batch);
                session.decodeUnchecked(window, from, to, true);
                tokenLogProbs(session, window, from + 1, to - from, logProbs, from - firstScored);
            }
            for (float logProb : logProbs) {
                double v = -(double) logProb;
                nll += v;
                nll2 += v * v;
            }
            count += scoredPerChunk;
            running[chunk] = Math.exp(nll / count);
            if (listener != null) {
                listener.onChunk(chunk + 1, chunks, running[chunk]);
            }
        }
        double mean = nll / count;
        double value = Math.exp(mean);
        double variance = nll2 / count - mean * mean;
        double standardError = count > 1 && variance > 0 ? value * Math.sqrt(variance / (count - 1)) : Double.NaN;
        return new Perplexity(value, standardError, mean, tokens.length, chunks, Math.toIntExact(count), running);
    }

    /**
     * {@code out[outFrom + i] = log softmax(row i of the last decode)[tokens[from + i]]} for {@code i < n}, computed
     * natively in double precision.
     */
    private static void tokenLogProbs(BloomSession session, int[] tokens, int from, int n, float[] out, int outFrom) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment targets = tmp.allocate(ValueLayout.JAVA_INT, n);
            MemorySegment.copy(tokens, from, targets, ValueLayout.JAVA_INT, 0, n);
            MemorySegment result = tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            Native.check(bloom_h.bloom_context_token_logprobs(result, session.context(), targets, n));
            MemorySegment.copy(result, ValueLayout.JAVA_FLOAT, 0, out, outFrom, n);
        }
    }
}
