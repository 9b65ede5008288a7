package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Generation through both paths: {@code generate} (the native bloom_generate loop with a callback) and
 * {@code stream}/{@code iterate} (the same loop stepped from Java). Every behaviour is checked on both, and the two
 * must agree token for token.
 */
class GenerationTest {

    @TempDir
    static Path temp;

    static BloomModel model;
    static BloomModel eosModel;

    static final String PROMPT = "The quick brown fox jumps over the lazy dog";

    @BeforeAll
    static void load() {
        model = BloomModel.load(TinyModels.random(temp.resolve("tiny"), 7, DataType.F32));
        eosModel = BloomModel.load(TinyModels.alwaysEos(temp.resolve("eos"), 7));
    }

    @AfterAll
    static void close() {
        model.close();
        eosModel.close();
    }

    /** What one path delivered: each token and its text, in order, plus the completion. */
    record Run(List<Token> tokens, Completion completion) {
        String joined() {
            return tokens.stream().map(Token::text).collect(Collectors.joining());
        }
    }

    static Run viaCallback(BloomModel m, int[] prompt, GenerationConfig config, int contextSize) {
        try (BloomSession s = m.newSession(TinyModels.session(contextSize))) {
            List<Token> tokens = new ArrayList<>();
            Completion c = s.generate(prompt, config, (id, text) -> tokens.add(new Token(id, text)));
            return new Run(tokens, c);
        }
    }

    static Run viaIterator(BloomModel m, int[] prompt, GenerationConfig config, int contextSize) {
        try (BloomSession s = m.newSession(TinyModels.session(contextSize));
             TokenIterator it = s.iterate(prompt, config)) {
            List<Token> tokens = new ArrayList<>();
            it.forEachRemaining(tokens::add);
            return new Run(tokens, it.completion());
        }
    }

    static void assertSameGeneration(Run expected, Run actual) {
        assertEquals(expected.tokens(), actual.tokens());
        Completion e = expected.completion();
        Completion a = actual.completion();
        assertEquals(e.text(), a.text());
        assertArrayEquals(e.ids(), a.ids());
        assertEquals(e.promptTokens(), a.promptTokens());
        assertEquals(e.reusedTokens(), a.reusedTokens());
        assertEquals(e.generatedTokens(), a.generatedTokens());
        assertEquals(e.finishReason(), a.finishReason());
    }

    static Run both(BloomModel m, int[] prompt, GenerationConfig config, int contextSize) {
        Run callback = viaCallback(m, prompt, config, contextSize);
        Run iterator = viaIterator(m, prompt, config, contextSize);
        assertSameGeneration(callback, iterator);
        // The completion's text is exactly what was streamed.
        assertEquals(callback.joined(), callback.completion().text());
        return callback;
    }

    @Test
    void readmeExampleStreamsTextAndReturnsACompletion() {
        StringBuilder streamed = new StringBuilder();
        Completion c;
        try (var session = model.newSession(TinyModels.session(128))) {
            c = session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(20), streamed::append);
        }
        assertEquals(streamed.toString(), c.text());
        assertTrue(c.generatedTokens() > 0 && c.generatedTokens() <= 20);
        assertEquals(c.generatedTokens(), c.ids().length);
        assertEquals(model.tokenize("The capital of France is").length, c.promptTokens());
        assertEquals(0, c.reusedTokens());
        assertTrue(c.prefillTime().toNanos() > 0 && c.decodeTime().toNanos() > 0);
        assertTrue(c.prefillTokensPerSecond() > 0 && c.decodeTokensPerSecond() > 0);
        if (c.finishReason() == FinishReason.LENGTH) {
            assertEquals(20, c.generatedTokens());
        }
    }

    @Test
    void greedyStreamingEqualsCallback() {
        Run run = both(model, model.tokenize(PROMPT), GenerationConfig.greedy().maxTokens(24).ignoreEos(true), 128);
        assertEquals(FinishReason.LENGTH, run.completion().finishReason());
        assertEquals(24, run.completion().generatedTokens());
        assertFalse(run.completion().text().isEmpty());
    }

    @Test
    void seededSamplingStreamingEqualsCallbackAndDependsOnTheSeed() {
        GenerationConfig config = GenerationConfig.sampling().temperature(1.5).topP(0.95).repetitionPenalty(1.3)
                .presencePenalty(0.2).frequencyPenalty(0.1).penaltyLastN(16).maxTokens(24).ignoreEos(true);
        int[] prompt = model.tokenize(PROMPT);
        Run a = both(model, prompt, config.seed(1), 128);
        Run b = viaCallback(model, prompt, config.seed(1), 128);
        Run other = viaCallback(model, prompt, config.seed(2), 128);
        assertArrayEquals(a.completion().ids(), b.completion().ids(), "same seed, same tokens");
        assertNotEquals(a.completion().text(), other.completion().text(), "another seed, other tokens");
    }

    @Test
    void stopStringEndsTheTextJustBeforeIt() {
        int[] prompt = model.tokenize(PROMPT);
        GenerationConfig config = GenerationConfig.greedy().maxTokens(40).ignoreEos(true);
        String full = viaCallback(model, prompt, config, 128).completion().text();
        assertTrue(full.length() > 12, "need some text to cut: " + full);
        // A stop string from the middle of the greedy output; the output must end before its first occurrence.
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        String expected = full.substring(0, full.indexOf(stop));

        Run run = both(model, prompt, config.stop("\u0001never", stop), 128);
        Completion c = run.completion();
        assertEquals(FinishReason.STOP, c.finishReason());
        assertEquals(expected, c.text());
        assertTrue(c.generatedTokens() < 40);
        // The token that completed the stop string is delivered (its text cut), and nothing comes after it.
        Token last = run.tokens().get(run.tokens().size() - 1);
        assertEquals(c.ids()[c.ids().length - 1], last.id());
    }

    @Test
    void textHeldBackForAStopStringThatNeverCompletesIsFlushedWithTokenMinusOne() {
        int[] prompt = model.tokenize(PROMPT);
        GenerationConfig config = GenerationConfig.greedy().maxTokens(12).ignoreEos(true);
        String full = viaCallback(model, prompt, config, 128).completion().text();
        // The output's last two chars plus something that never follows: held back at the end, then flushed.
        String stop = full.substring(full.length() - 2) + "\u0001\u0002";

        Run run = both(model, prompt, config.stop(stop), 128);
        assertEquals(full, run.completion().text());
        assertEquals(FinishReason.LENGTH, run.completion().finishReason());
        Token last = run.tokens().get(run.tokens().size() - 1);
        assertEquals(-1, last.id());
        assertTrue(last.text().endsWith(full.substring(full.length() - 2)), last.text());
        assertEquals(12, run.completion().ids().length, "the flush carries no token id");
    }

    @Test
    void endOfSequenceEndsGenerationAndCountsAsGenerated() {
        int[] prompt = eosModel.tokenize(PROMPT);
        Run run = both(eosModel, prompt, GenerationConfig.greedy().maxTokens(10), 64);
        Completion c = run.completion();
        assertEquals(FinishReason.EOS, c.finishReason());
        assertArrayEquals(new int[] {TinyModels.EOS}, c.ids());
        assertEquals(1, c.generatedTokens());
        assertEquals("", c.text());
        assertEquals(List.of(new Token(TinyModels.EOS, "")), run.tokens());
    }

    @Test
    void ignoreEosKeepsGoingToMaxTokens() {
        int[] prompt = eosModel.tokenize(PROMPT);
        Run run = both(eosModel, prompt, GenerationConfig.greedy().maxTokens(5).ignoreEos(true), 64);
        assertEquals(FinishReason.LENGTH, run.completion().finishReason());
        assertArrayEquals(new int[] {2, 2, 2, 2, 2}, run.completion().ids());
        assertEquals("", run.completion().text(), "</s> is special: generation text skips it");
    }

    @Test
    void zeroMaxTokensOnlyEvaluatesThePrompt() {
        Run run = both(model, model.tokenize(PROMPT), GenerationConfig.greedy().maxTokens(0), 64);
        assertEquals(FinishReason.LENGTH, run.completion().finishReason());
        assertEquals(0, run.completion().generatedTokens());
        assertTrue(run.tokens().isEmpty());
    }

    @Test
    void aFullContextEndsGeneration() {
        int[] prompt = model.tokenize(PROMPT);
        int context = prompt.length + 5;
        Run run = both(model, prompt, GenerationConfig.greedy().maxTokens(100).ignoreEos(true), context);
        assertEquals(FinishReason.CONTEXT_FULL, run.completion().finishReason());
        // Five generated tokens fill the cache; a sixth is sampled from the last logits but cannot be evaluated.
        assertEquals(6, run.completion().generatedTokens());
    }

    @Test
    void cachedPrefixIsReusedOnBothPaths() {
        int[] prompt = model.tokenize(PROMPT);
        GenerationConfig config = GenerationConfig.greedy().maxTokens(4).ignoreEos(true);
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            Completion first = s.generate(prompt, config, null);
            assertEquals(0, first.reusedTokens());
            Completion again = s.generate(prompt, config, null);
            assertEquals(prompt.length - 1, again.reusedTokens(), "all but the last prompt token are reused");
            TokenIterator it = s.iterate(prompt, config);
            it.forEachRemaining(t -> { });
            assertEquals(prompt.length - 1, it.completion().reusedTokens());
            int[] longer = java.util.Arrays.copyOf(prompt, prompt.length + 1);
            longer[prompt.length] = 17;
            assertEquals(prompt.length, s.generate(longer, config, null).reusedTokens());
        }
    }

    @Test
    void listenerReturningFalseAndClosingTheStreamBothCancel() {
        int[] prompt = model.tokenize(PROMPT);
        GenerationConfig config = GenerationConfig.greedy().maxTokens(30).ignoreEos(true);
        Completion viaCallback;
        int positionAfterCallback;
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            int[] seen = {0};
            viaCallback = s.generate(prompt, config, (id, text) -> ++seen[0] < 3);
            positionAfterCallback = s.position();
        }
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            List<Token> taken;
            try (Stream<Token> tokens = s.stream(prompt, config)) {
                taken = tokens.limit(3).toList();
            }
            assertEquals(3, taken.size());
            assertEquals(FinishReason.CANCELLED, viaCallback.finishReason());
            assertArrayEquals(viaCallback.ids(), taken.stream().mapToInt(Token::id).toArray());
            assertEquals(positionAfterCallback, s.position(), "the same tokens were evaluated");
            assertEquals(prompt.length + 2, s.position(), "the cancelled token is not evaluated");
            // The session goes on normally after a cancelled stream.
            assertEquals(5, s.generate(prompt, config.maxTokens(5), null).generatedTokens());
        }
    }

    @Test
    void iteratorReportsCancellationAndIsIdempotent() {
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            TokenIterator it = s.iterate(PROMPT, GenerationConfig.greedy().maxTokens(30).ignoreEos(true));
            assertThrows(IllegalStateException.class, it::completion);
            Token first = it.next();
            it.close();
            it.close();
            assertFalse(it.hasNext());
            assertThrows(NoSuchElementException.class, it::next);
            Completion c = it.completion();
            assertEquals(FinishReason.CANCELLED, c.finishReason());
            assertArrayEquals(new int[] {first.id()}, c.ids());
        }
    }

    @Test
    void startingAnotherOperationClosesAnOpenStream() {
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            TokenIterator it = s.iterate(PROMPT, GenerationConfig.greedy().maxTokens(30).ignoreEos(true));
            it.next();
            s.evaluate(new int[] {5});
            assertFalse(it.hasNext());
            assertEquals(FinishReason.CANCELLED, it.completion().finishReason());
        }
    }

    @Test
    void anIteratorMovesBetweenThreadsWithItsSession() throws Exception {
        int[] alone;
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            alone = s.generate(PROMPT, GenerationConfig.greedy().maxTokens(3), (TokenListener) null).ids();
        }
        try (BloomSession s = model.newSession(TinyModels.session(128));
             TokenIterator it = s.iterate(PROMPT, GenerationConfig.greedy().maxTokens(3))) {
            CompletableFuture<Integer> first = new CompletableFuture<>();
            Thread.ofPlatform().name("other").start(() -> first.complete(it.next().id())).join();
            int second = it.next().id();
            int[] third = new int[1];
            Thread.ofVirtual().start(() -> third[0] = it.next().id()).join();
            assertArrayEquals(alone, new int[] {first.get(), second, third[0]});
            assertFalse(it.hasNext());
        }
    }

    @Test
    void listenerExceptionsPropagateAfterTheNativeLoopUnwinds() {
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            var boom = new IllegalStateException("listener failed");
            var e = assertThrows(IllegalStateException.class, () -> s.generate(PROMPT,
                    GenerationConfig.greedy().maxTokens(10), (id, text) -> {
                        throw boom;
                    }));
            assertEquals(boom, e);
            // The session is intact.
            assertEquals(3, s.generate(PROMPT, GenerationConfig.greedy().maxTokens(3).ignoreEos(true))
                    .generatedTokens());
        }
    }

    @Test
    void promptsAreValidatedInJava() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            var e = assertThrows(IllegalArgumentException.class, () -> s.generate("", GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt must not be empty"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.generate(new int[0], GenerationConfig.greedy(), null));
            assertTrue(e.getMessage().contains("prompt must not be empty"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.generate(new int[] {1, 5000}, GenerationConfig.greedy(), null));
            assertTrue(e.getMessage().contains("prompt[1] = 5000"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.stream(new int[] {-3}, GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt[0] = -3"), e.getMessage());
        }
    }
}
