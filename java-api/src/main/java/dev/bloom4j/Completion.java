package dev.bloom4j;

import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

/**
 * The result of a generation.
 * {@snippet :
 * Completion c = session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(20));
 * System.out.println(c.text());
 * System.err.printf("%d tokens, %s, %.1f tok/s%n", c.generatedTokens(), c.finishReason(), c.decodeTokensPerSecond());
 * }
 *
 * @param text            the generated text, ending just before a stop string if one was found
 * @param ids             the generated token ids; like Hugging Face's {@code generate()}, they end with the
 *                        end-of-sequence token when generation stopped on it, and they include the token that
 *                        completed a stop string
 * @param promptTokens    tokens in the prompt
 * @param reusedTokens    leading prompt tokens whose KV-cache entries were kept from the session's previous work
 *                        (in a {@link BatchSession}: shared with a running request whose prompt starts the same)
 *                        and so not evaluated again
 * @param generatedTokens tokens generated, the end-of-sequence token included ({@code ids.length})
 * @param finishReason    why generation ended
 * @param prefillTime     wall time spent evaluating the prompt
 * @param decodeTime      wall time spent generating, sampling included
 */
public record Completion(
        String text,
        int[] ids,
        int promptTokens,
        int reusedTokens,
        int generatedTokens,
        FinishReason finishReason,
        Duration prefillTime,
        Duration decodeTime) {

    public Completion {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(finishReason, "finishReason");
        Objects.requireNonNull(prefillTime, "prefillTime");
        Objects.requireNonNull(decodeTime, "decodeTime");
        ids = ids.clone();
    }

    /** A copy of the generated ids. */
    @Override
    public int[] ids() {
        return ids.clone();
    }

    /** Prompt tokens evaluated per second (reused ones excluded); 0 when nothing was evaluated. */
    public double prefillTokensPerSecond() {
        return rate(promptTokens - reusedTokens, prefillTime);
    }

    /** Generated tokens per second; 0 when nothing was generated. */
    public double decodeTokensPerSecond() {
        return rate(generatedTokens, decodeTime);
    }

    private static double rate(int tokens, Duration time) {
        long nanos = time.toNanos();
        return tokens <= 0 || nanos <= 0 ? 0 : tokens * 1e9 / nanos;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Completion c
                && text.equals(c.text)
                && Arrays.equals(ids, c.ids)
                && promptTokens == c.promptTokens
                && reusedTokens == c.reusedTokens
                && generatedTokens == c.generatedTokens
                && finishReason == c.finishReason
                && prefillTime.equals(c.prefillTime)
                && decodeTime.equals(c.decodeTime);
    }

    @Override
    public int hashCode() {
        return Objects.hash(text, Arrays.hashCode(ids), promptTokens, reusedTokens, generatedTokens, finishReason,
                prefillTime, decodeTime);
    }

    @Override
    public String toString() {
        return "Completion[text=" + text + ", ids=" + Arrays.toString(ids) + ", promptTokens=" + promptTokens
                + ", reusedTokens=" + reusedTokens + ", generatedTokens=" + generatedTokens
                + ", finishReason=" + finishReason + ", prefillTime=" + prefillTime + ", decodeTime=" + decodeTime
                + "]";
    }
}
