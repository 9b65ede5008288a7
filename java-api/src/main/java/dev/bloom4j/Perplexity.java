package dev.bloom4j;

import java.util.Arrays;

/**
 * The perplexity of a long text, computed the way llama.cpp's {@code llama-perplexity} tool computes it, as
 * {@link BloomSession#perplexity(String, PerplexityConfig)} returns it.
 * {@snippet :
 * try (var session = model.newSession(SessionConfig.builder().contextSize(512).build())) {
 *     Perplexity p = session.perplexity(Files.readString(Path.of("wiki.test.raw")), PerplexityConfig.defaults(),
 *             (chunk, chunks, running) -> System.err.printf("[%d]%.4f,", chunk, running));
 *     System.out.printf("%nFinal estimate: PPL = %.4f +/- %.5f%n", p.value(), p.standardError());
 * }
 * }
 *
 * <h2>Definition</h2>
 * Let {@code t[0..T-1]} be the tokens of the text (tokenized without parsing special tokens, as llama.cpp does,
 * with the BOS token put first when {@link PerplexityConfig#addBos()}), {@code n} the
 * {@link PerplexityConfig#contextSize()} and {@code s} the {@link PerplexityConfig#stride()}. The text must have
 * {@code T >= 2n} tokens. Each window is evaluated on its own (the KV cache is cleared before it), so a token only
 * sees the tokens of its window before it; for a position {@code j} of a window whose next token is {@code u},
 * {@code NLL = -log softmax(logits_j)[u]} (natural log, log-softmax over the whole vocabulary in double precision).
 * <ul>
 *   <li><b>Standard method</b> ({@code s = 0}): {@code K = floor(T / n)} disjoint windows; window {@code k} holds
 *       {@code t[k*n .. k*n+n-1]}, its first token replaced by BOS when {@code addBos}. The first half is context
 *       only: positions {@code j = floor(n/2) .. n-2} are scored, i.e. the window's tokens
 *       {@code floor(n/2)+1 .. n-1}, {@code n - floor(n/2) - 1} tokens per window. Tokens after {@code K*n} are not
 *       used.</li>
 *   <li><b>Strided method</b> ({@code s > 0}): {@code K = ceil((T - n) / s)} overlapping windows; window {@code k}
 *       holds {@code t[k*s .. k*s+n-1]} and scores positions {@code j = n-s-1 .. n-2}, i.e. its last {@code s}
 *       tokens. Consecutive windows thus score consecutive runs of {@code s} tokens starting at {@code t[n-s]},
 *       each token seeing at least {@code n-s} tokens before it. No BOS replaces a window's first token (llama.cpp's
 *       strided code writes it into its token buffer only after evaluating the window, so it has no effect). This
 *       is llama.cpp's {@code --ppl-stride}, which sizes its window itself, as {@code llama_n_ctx()} of its
 *       context: {@code llama-perplexity -c C -b C --ppl-stride S} uses {@code n = C + S/2} rounded up to a
 *       multiple of 256 (e.g. {@code -c 512 -b 512 --ppl-stride 256} is {@code n = 768, s = 256}); a batch
 *       {@code -b B} larger than {@code C} (the default is 2048) makes that window about {@code B/C} times
 *       larger.
 *       llama.cpp computes these probabilities in single precision and prints no {@code +/-}; the formula below
 *       is applied anyway.</li>
 * </ul>
 * With {@code N} scored tokens in all, {@code meanNegativeLogLikelihood = sum(NLL) / N},
 * {@code value = exp(meanNegativeLogLikelihood)}, and the {@code +/-} llama.cpp prints is
 * {@code standardError = value * sqrt((sum(NLL^2)/N - mean^2) / (N - 1))}: the standard error of the mean NLL
 * carried over to the perplexity to first order. {@code runningEstimates[k]} is {@code exp} of the mean over windows
 * {@code 0..k}, the {@code [k+1]x,} figures llama.cpp prints as it goes.
 *
 * @param value                     the perplexity
 * @param standardError             llama.cpp's {@code +/-}; {@code NaN} when fewer than two tokens were scored or
 *                                  the NLLs do not vary
 * @param meanNegativeLogLikelihood the cross-entropy in nats per scored token
 * @param tokenCount                {@code T}: the text's tokens, BOS included
 * @param chunks                    {@code K}: windows evaluated
 * @param scoredTokens              {@code N}
 * @param runningEstimates          the perplexity after each window, {@code chunks} entries
 */
public record Perplexity(double value, double standardError, double meanNegativeLogLikelihood, int tokenCount,
                         int chunks, int scoredTokens, double[] runningEstimates) {

    /** Receives the running estimate after each window, on the session's thread. Throwing stops the computation. */
    @FunctionalInterface
    public interface Listener {
        /**
         * @param chunk             the window just evaluated, 1-based
         * @param chunks            windows in all
         * @param runningPerplexity the perplexity over windows {@code 1..chunk}
         */
        void onChunk(int chunk, int chunks, double runningPerplexity);
    }

    /** Copies the estimates. */
    public Perplexity {
        runningEstimates = runningEstimates.clone();
    }

    /** A copy of the running estimates. */
    @Override
    public double[] runningEstimates() {
        return runningEstimates.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Perplexity p
                && Double.compare(value, p.value) == 0
                && Double.compare(standardError, p.standardError) == 0
                && Double.compare(meanNegativeLogLikelihood, p.meanNegativeLogLikelihood) == 0
                && tokenCount == p.tokenCount
                && chunks == p.chunks
                && scoredTokens == p.scoredTokens
                && Arrays.equals(runningEstimates, p.runningEstimates);
    }

    @Override
    public int hashCode() {
        return 31 * java.util.Objects.hash(value, standardError, meanNegativeLogLikelihood, tokenCount, chunks,
                scoredTokens) + Arrays.hashCode(runningEstimates);
    }

    @Override
    public String toString() {
        return "Perplexity[value=" + value + ", standardError=" + standardError + ", meanNegativeLogLikelihood="
                + meanNegativeLogLikelihood + ", tokenCount=" + tokenCount + ", chunks=" + chunks + ", scoredTokens="
                + scoredTokens + ", runningEstimates=" + Arrays.toString(runningEstimates) + "]";
    }
}
