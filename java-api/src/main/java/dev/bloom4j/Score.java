package dev.bloom4j;

import java.util.Arrays;
import java.util.Objects;

/**
 * How likely a model finds a text: the log-probability of every token given the tokens before it, as
 * {@link BloomSession#score(String)} computes it. The first token has no prediction (nothing precedes it), so
 * {@code logProbs()[0]} is {@code NaN} and the totals cover tokens {@code 1..n-1}: exactly the loss Hugging Face
 * computes for {@code model(ids, labels=ids)}, whose {@code exp} is the perplexity.
 * {@snippet :
 * Score s = session.score("The capital of France is Paris.");
 * System.out.printf("%d tokens, log-likelihood %.3f, perplexity %.2f%n",
 *         s.tokens().length, s.logLikelihood(), s.perplexity());
 * }
 *
 * @param tokens   the scored token ids, at least two
 * @param logProbs natural-log probabilities, {@code logProbs[i] = log p(tokens[i] | tokens[0..i-1])} for
 *                 {@code i >= 1}, from a log-softmax over the whole vocabulary computed in double precision;
 *                 {@code logProbs[0]} is {@code NaN}
 */
public record Score(int[] tokens, float[] logProbs) {

    /** Checks that the arrays line up and copies them. */
    public Score {
        Objects.requireNonNull(tokens, "tokens");
        Objects.requireNonNull(logProbs, "logProbs");
        if (tokens.length < 2) {
            throw new IllegalArgumentException("a score needs at least 2 tokens (the first one has no prediction), got "
                    + tokens.length);
        }
        if (logProbs.length != tokens.length) {
            throw new IllegalArgumentException("logProbs has " + logProbs.length + " entries for " + tokens.length
                    + " tokens");
        }
        tokens = tokens.clone();
        logProbs = logProbs.clone();
    }

    /** A copy of the scored token ids. */
    @Override
    public int[] tokens() {
        return tokens.clone();
    }

    /** A copy of the per-token log-probabilities; entry 0 is {@code NaN}. */
    @Override
    public float[] logProbs() {
        return logProbs.clone();
    }

    /** Tokens with a prediction: {@code tokens().length - 1}. */
    public int scoredTokens() {
        return tokens.length - 1;
    }

    /** The sum of {@code logProbs[1..n-1]} (in double): the log-probability of tokens 1.. given token 0. */
    public double logLikelihood() {
        double sum = 0;
        for (int i = 1; i < logProbs.length; i++) {
            sum += logProbs[i];
        }
        return sum;
    }

    /** {@code -logLikelihood() / scoredTokens()}: the cross-entropy loss, in nats per token. */
    public double meanNegativeLogLikelihood() {
        return -logLikelihood() / scoredTokens();
    }

    /** {@code exp(meanNegativeLogLikelihood())}. */
    public double perplexity() {
        return Math.exp(meanNegativeLogLikelihood());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Score s && Arrays.equals(tokens, s.tokens) && Arrays.equals(logProbs, s.logProbs);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tokens) + Arrays.hashCode(logProbs);
    }

    @Override
    public String toString() {
        return "Score[tokens=" + Arrays.toString(tokens) + ", logProbs=" + Arrays.toString(logProbs)
                + ", perplexity=" + perplexity() + "]";
    }
}
