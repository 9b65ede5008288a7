package dev.bloom4j;

import java.util.Arrays;

/**
 * A generated token's log-probability and the most likely tokens at its step, under the model's own distribution
 * (the log-softmax of the raw logits: penalties, temperature and truncation do not change them), as OpenAI's and
 * llama-server's {@code logprobs} report them. Requested with {@link GenerationConfig#logprobs(int)}; delivered to
 * {@link TokenListener#onToken(int, String, TokenLogprobs)}.
 *
 * @param tokenId     the generated token
 * @param logprob     its natural-log probability, {@code <= 0}
 * @param topIds      the most likely tokens, most likely first (equal ones by lower id); as many as
 *                    {@link GenerationConfig#logprobs()} asked for
 * @param topLogprobs their log-probabilities, in the same order
 */
public record TokenLogprobs(int tokenId, float logprob, int[] topIds, float[] topLogprobs) {

    /** Copies the arrays. */
    public TokenLogprobs {
        topIds = topIds.clone();
        topLogprobs = topLogprobs.clone();
        if (topIds.length != topLogprobs.length) {
            throw new IllegalArgumentException("topIds has " + topIds.length + " entries but topLogprobs "
                    + topLogprobs.length);
        }
    }

    /** A copy of the most likely tokens. */
    @Override
    public int[] topIds() {
        return topIds.clone();
    }

    /** A copy of their log-probabilities. */
    @Override
    public float[] topLogprobs() {
        return topLogprobs.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenLogprobs t && tokenId == t.tokenId && Float.compare(logprob, t.logprob) == 0
                && Arrays.equals(topIds, t.topIds) && Arrays.equals(topLogprobs, t.topLogprobs);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * tokenId + Float.hashCode(logprob)) + Arrays.hashCode(topIds))
                + Arrays.hashCode(topLogprobs);
    }

    @Override
    public String toString() {
        return "TokenLogprobs[" + tokenId + ", " + logprob + ", top " + Arrays.toString(topIds) + " "
                + Arrays.toString(topLogprobs) + "]";
    }
}
