package dev.bloom4j;

/**
 * Receives generated tokens as they are produced, on the thread that called
 * {@link BloomSession#generate(int[], GenerationConfig, TokenListener)} (or on a {@link BatchSession}'s scheduler
 * thread, for {@link BatchSession#submit(int[], GenerationConfig, TokenListener)}); it may stop the generation.
 * {@snippet :
 * Completion c = session.generate(promptIds, config, (id, text) -> {
 *     System.out.print(text);
 *     return !userPressedStop;           // false ends the generation with FinishReason.CANCELLED
 * });
 * }
 * An exception thrown here stops the generation and is rethrown by {@code generate} after the native side has
 * unwound (a batch session fails that request's future with it).
 */
@FunctionalInterface
public interface TokenListener {
    /**
     * Called once per generated token, the end-of-sequence token included (with empty text), and possibly once
     * more at the end with token id {@code -1} for text that was held back (see
     * {@link BloomSession#generate(int[], GenerationConfig, TokenListener)}).
     *
     * @param tokenId the token, or {@code -1} for the final held-back text
     * @param text    the text it completes, as in {@link Token#text()}; possibly empty
     * @return {@code true} to continue, {@code false} to stop
     */
    boolean onToken(int tokenId, String text);

    /**
     * Called instead of {@link #onToken(int, String)} by a {@link BatchSession}, with the token's log-probabilities
     * when its {@link GenerationConfig#logprobs()} asks for them; the default forwards to
     * {@link #onToken(int, String)}. Override it to receive them.
     *
     * @param tokenId  as in {@link #onToken(int, String)}
     * @param text     as in {@link #onToken(int, String)}
     * @param logprobs the token's log-probability and the most likely tokens at its step; {@code null} for the
     *                 final held-back text (id {@code -1}) and when the config asks for none
     * @return {@code true} to continue, {@code false} to stop
     */
    default boolean onToken(int tokenId, String text, TokenLogprobs logprobs) {
        return onToken(tokenId, text);
    }
}
