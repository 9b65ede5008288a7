package dev.bloom4j;

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
    static float[] logProbs(NativeContext context, int[] ids) {
        float[] out = new float[ids.length];
        out[0] = Float.NaN;
        context.truncate(0);
        int batch = context.batchSize();
        for (int from = 0; from < ids.length; from += batch) {
            int to = Math.min(ids.length, from + batch);
            context.decode(ids, from, to, true);
            // Row r of this piece predicts ids[from + r + 1]; the very last token predicts nothing.
            int targets = Math.min(to, ids.length - 1) - from;
            if (targets > 0) {
                context.tokenLogProbs(ids, from + 1, targets, out, from + 1);
            }
        }
        return out;
    }

    /** See {@link BloomSession#perplexity(int[], PerplexityConfig, Perplexity.Listener)}; arguments checked. */
    static Perplexity perplexity(NativeContext context, int[] tokens, PerplexityConfig config, int bos,
                                 Perplexity.Listener listener) {
        int n = config.contextSize();
        int stride = config.stride();
        int chunks = config.chunkCount(tokens.length);
        int scoredPerChunk = config.scoredTokensPerChunk();
        // Window positions firstScored .. n-2 predict the window's tokens firstScored+1 .. n-1. Position n-1 predicts
        // nothing, so it is not evaluated at all (attention is causal: leaving it out changes no other row).
        int firstScored = n - 1 - scoredPerChunk;
        int batch = context.batchSize();

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
            context.truncate(0);
            if (firstScored > 0) {
                // Context only: the native side keeps just the last row of logits for these.
                context.decode(window, 0, firstScored, false);
            }
            for (int from = firstScored; from < n - 1; from += batch) {
                int to = Math.min(n - 1, from + batch);
                context.decode(window, from, to, true);
                context.tokenLogProbs(window, from + 1, to - from, logProbs, from - firstScored);
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
}
