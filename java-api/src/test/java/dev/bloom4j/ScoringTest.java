package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * logProbs, score and perplexity against their definitions, recomputed here in double precision from the logits
 * {@link BloomSession#logitsAll()} returns. The native side computes the log-softmax itself (rows never reach Java)
 * and evaluates perplexity windows in pieces, so agreement checks both the native log-softmax and the chunking.
 */
class ScoringTest {

    @TempDir
    static Path temp;

    static BloomModel model;

    @BeforeAll
    static void load() {
        model = BloomModel.load(TinyModels.random(temp.resolve("tiny"), 11, DataType.F32));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** log softmax(row)[target] in double. */
    static double logSoftmax(float[] row, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        return row[target] - max - Math.log(sum);
    }

    /** Log-probabilities by the definition: evaluate everything with all logits, log-softmax each row here. */
    static double[] referenceLogProbs(int[] ids, int batch) {
        try (BloomSession s = model.newSession(SessionConfig.builder().contextSize(ids.length).batchSize(batch)
                .threads(1).build())) {
            s.evaluate(ids, true);
            float[][] rows = s.logitsAll();
            double[] out = new double[ids.length];
            out[0] = Double.NaN;
            for (int i = 1; i < ids.length; i++) {
                out[i] = logSoftmax(rows[i - 1], ids[i]);
            }
            return out;
        }
    }

    static int[] randomIds(long seed, int count) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) {
            ids[i] = random.nextInt(1000); // the tokenizer's ids; the padding ids up to 1024 never occur in text
        }
        return ids;
    }

    static void assertClose(double expected, double actual, double relative, String what) {
        double error = Math.abs(expected - actual);
        assertTrue(error <= relative * Math.max(1, Math.abs(expected)),
                () -> what + ": expected " + expected + ", got " + actual + " (error " + error + ")");
    }

    @Test
    void logProbsAreTheLogSoftmaxOfThePreviousRow() {
        // One piece (batch 64 > 40) and many pieces (batch 7): the native side decodes piece by piece.
        int[] ids = randomIds(1, 40);
        for (int batch : new int[] {64, 7}) {
            double[] expected = referenceLogProbs(ids, batch);
            try (BloomSession s = model.newSession(SessionConfig.builder().contextSize(48).batchSize(batch)
                    .threads(1).build())) {
                float[] actual = s.logProbs(ids);
                assertEquals(ids.length, actual.length);
                assertTrue(Float.isNaN(actual[0]), "nothing predicts the first token");
                double maxError = 0;
                for (int i = 1; i < ids.length; i++) {
                    assertTrue(actual[i] < 0, "a log-probability is negative: " + actual[i]);
                    maxError = Math.max(maxError, Math.abs(expected[i] - actual[i]));
                    // float rounding of a value of order 10: a few 1e-6
                    assertClose(expected[i], actual[i], 1e-5, "batch " + batch + " logprob[" + i + "]");
                }
                System.out.printf("logProbs vs double log-softmax of logitsAll, batch %d: max error %.3g%n", batch,
                        maxError);
                assertArrayEquals(ids, s.cachedTokens(), "the ids are in the cache afterwards");
                // A second call starts from an empty cache again and so gives the same numbers.
                assertArrayEquals(actual, s.logProbs(ids));
            }
        }
    }

    @Test
    void logProbsOfASingleTokenAndBadInput() {
        try (BloomSession s = model.newSession(TinyModels.session(8))) {
            float[] one = s.logProbs(new int[] {5});
            assertEquals(1, one.length);
            assertTrue(Float.isNaN(one[0]));

            var empty = assertThrows(IllegalArgumentException.class, () -> s.logProbs(new int[0]));
            assertTrue(empty.getMessage().contains("empty"), empty.getMessage());
            var badId = assertThrows(IllegalArgumentException.class, () -> s.logProbs(new int[] {1, 1024}));
            assertTrue(badId.getMessage().contains("1024"), badId.getMessage());
            var full = assertThrows(ContextFullException.class, () -> s.logProbs(randomIds(2, 9)));
            assertTrue(full.getMessage().contains("9 tokens") && full.getMessage().contains("holds 8"),
                    full.getMessage());
        }
    }

    @Test
    void scoreTotalsAreThoseOfTheLogProbs() {
        String text = "Once upon a time, there was a tiny model.";
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            Score score = s.score(text);
            int[] ids = model.tokenize(text);
            assertArrayEquals(ids, score.tokens());
            double[] expected = referenceLogProbs(ids, 64);
            double sum = 0;
            for (int i = 1; i < ids.length; i++) {
                assertClose(expected[i], score.logProbs()[i], 1e-5, "logprob[" + i + "]");
                sum += expected[i];
            }
            assertEquals(ids.length - 1, score.scoredTokens());
            assertClose(sum, score.logLikelihood(), 1e-6, "log-likelihood");
            assertClose(-sum / (ids.length - 1), score.meanNegativeLogLikelihood(), 1e-6, "mean NLL");
            assertClose(Math.exp(-sum / (ids.length - 1)), score.perplexity(), 1e-6, "perplexity");
            assertEquals(score, s.score(ids), "text and ids give the same score");

            var tooShort = assertThrows(IllegalArgumentException.class, () -> s.score(new int[] {7}));
            assertTrue(tooShort.getMessage().contains("at least 2 tokens"), tooShort.getMessage());
        }
    }

    /** The perplexity definition (see {@link Perplexity}), straight from logitsAll, window by window. */
    static Perplexity referencePerplexity(int[] textTokens, PerplexityConfig c, int bos) {
        int[] tokens = textTokens;
        if (c.addBos()) {
            tokens = new int[textTokens.length + 1];
            tokens[0] = bos;
            System.arraycopy(textTokens, 0, tokens, 1, textTokens.length);
        }
        int n = c.contextSize();
        int s = c.stride();
        int chunks = s == 0 ? tokens.length / n : (tokens.length - n + s - 1) / s;
        if (c.maxChunks() > 0) {
            chunks = Math.min(chunks, c.maxChunks());
        }
        List<Double> nlls = new ArrayList<>();
        double[] running = new double[chunks];
        try (BloomSession session = model.newSession(SessionConfig.builder().contextSize(n).batchSize(n)
                .threads(1).build())) {
            for (int k = 0; k < chunks; k++) {
                int start = s == 0 ? k * n : k * s;
                int[] window = Arrays.copyOfRange(tokens, start, start + n);
                if (c.addBos() && s == 0) {
                    window[0] = bos;
                }
                session.clear();
                session.evaluate(window, true);
                float[][] rows = session.logitsAll();
                int first = s == 0 ? n / 2 : n - s - 1;
                for (int j = first; j <= n - 2; j++) {
                    nlls.add(-logSoftmax(rows[j], window[j + 1]));
                }
                running[k] = Math.exp(nlls.stream().mapToDouble(Double::doubleValue).average().orElseThrow());
            }
        }
        double mean = nlls.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double meanSquare = nlls.stream().mapToDouble(v -> v * v).average().orElseThrow();
        double ppl = Math.exp(mean);
        double se = ppl * Math.sqrt((meanSquare - mean * mean) / (nlls.size() - 1));
        return new Perplexity(ppl, se, mean, tokens.length, chunks, nlls.size(), running);
    }

    static void assertSamePerplexity(Perplexity expected, Perplexity actual) {
        assertEquals(expected.tokenCount(), actual.tokenCount(), "tokens");
        assertEquals(expected.chunks(), actual.chunks(), "chunks");
        assertEquals(expected.scoredTokens(), actual.scoredTokens(), "scored tokens");
        assertClose(expected.value(), actual.value(), 1e-5, "perplexity");
        assertClose(expected.meanNegativeLogLikelihood(), actual.meanNegativeLogLikelihood(), 1e-5, "mean NLL");
        assertClose(expected.standardError(), actual.standardError(), 1e-4, "standard error");
        for (int k = 0; k < expected.chunks(); k++) {
            assertClose(expected.runningEstimates()[k], actual.runningEstimates()[k], 1e-5, "running[" + k + "]");
        }
        System.out.printf("perplexity %.6f (reference %.6f) +/- %.6f (reference %.6f), %d chunks%n", actual.value(),
                expected.value(), actual.standardError(), expected.standardError(), actual.chunks());
    }

    @Test
    void perplexityFollowsTheStandardMethod() {
        int[] tokens = randomIds(3, 101); // 6 windows of 16, 5 tokens unused
        int bos = model.info().bosToken().orElseThrow();
        // Batch 5 splits the scored half of each window into pieces of 5, 2 and 0 tokens.
        try (BloomSession s = model.newSession(SessionConfig.builder().contextSize(16).batchSize(5).threads(1)
                .build())) {
            for (PerplexityConfig c : List.of(
                    PerplexityConfig.builder().contextSize(16).build(),
                    PerplexityConfig.builder().contextSize(16).addBos(true).build(),
                    PerplexityConfig.builder().contextSize(15).maxChunks(4).build())) {
                List<String> calls = new ArrayList<>();
                Perplexity p = s.perplexity(tokens, c, (chunk, chunks, running) ->
                        calls.add(chunk + "/" + chunks + "=" + running));
                assertSamePerplexity(referencePerplexity(tokens, c, bos), p);
                assertEquals(p.chunks(), calls.size());
                assertEquals(p.chunks() + "/" + p.chunks() + "=" + p.runningEstimates()[p.chunks() - 1],
                        calls.get(calls.size() - 1));
                assertEquals(c.chunkCount(p.tokenCount()), p.chunks());
                assertEquals(c.scoredTokensPerChunk() * p.chunks(), p.scoredTokens());
            }
            Perplexity standard = s.perplexity(tokens, PerplexityConfig.builder().contextSize(16).build(), null);
            assertEquals(6, standard.chunks());
            assertEquals(6 * 7, standard.scoredTokens(), "16 - 8 - 1 = 7 tokens per window");
            assertEquals(101, standard.tokenCount());
        }
    }

    @Test
    void perplexityFollowsTheStridedMethod() {
        int[] tokens = randomIds(4, 60);
        try (BloomSession s = model.newSession(SessionConfig.builder().contextSize(20).batchSize(3).threads(1)
                .build())) {
            for (int stride : new int[] {1, 4, 19}) {
                PerplexityConfig c = PerplexityConfig.builder().contextSize(20).stride(stride).addBos(true).build();
                Perplexity p = s.perplexity(tokens, c, null);
                assertSamePerplexity(referencePerplexity(tokens, c, model.info().bosToken().orElseThrow()), p);
                assertEquals((61 - 20 + stride - 1) / stride, p.chunks(), "stride " + stride);
                assertEquals(stride * p.chunks(), p.scoredTokens());
            }
        }
    }

    @Test
    void perplexityOfTextTokenizesWithoutSpecialTokens() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            text.append("The quick brown fox jumps over the lazy dog </s> ").append(i).append(". ");
        }
        try (BloomSession s = model.newSession(TinyModels.session(32))) {
            PerplexityConfig c = PerplexityConfig.builder().contextSize(32).build();
            Perplexity p = s.perplexity(text.toString(), c);
            int[] plain = model.tokenize(text.toString(), false);
            assertEquals(plain.length, p.tokenCount());
            assertTrue(Arrays.stream(plain).noneMatch(id -> id == TinyModels.EOS), "</s> stays text, as in llama.cpp");
            assertEquals(p, s.perplexity(plain, c, null));
        }
    }

    @Test
    void perplexityRejectsShortTextsAndOversizedWindows() {
        try (BloomSession s = model.newSession(TinyModels.session(16))) {
            var shortText = assertThrows(IllegalArgumentException.class,
                    () -> s.perplexity(randomIds(5, 31), PerplexityConfig.builder().contextSize(16).build(), null));
            assertTrue(shortText.getMessage().contains("31 tokens") && shortText.getMessage().contains("at least 32"),
                    shortText.getMessage());
            var bosCounts = assertThrows(IllegalArgumentException.class, () -> s.perplexity(randomIds(5, 30),
                    PerplexityConfig.builder().contextSize(16).addBos(true).build(), null));
            assertTrue(bosCounts.getMessage().contains("31 tokens (BOS included)"), bosCounts.getMessage());
            var window = assertThrows(IllegalArgumentException.class,
                    () -> s.perplexity(randomIds(5, 100), PerplexityConfig.builder().contextSize(17).build(), null));
            assertTrue(window.getMessage().contains("17") && window.getMessage().contains("16"), window.getMessage());
            // A listener that throws stops the computation with its own exception.
            var stop = assertThrows(IllegalStateException.class, () -> s.perplexity(randomIds(5, 64),
                    PerplexityConfig.builder().contextSize(16).build(), (chunk, chunks, running) -> {
                        throw new IllegalStateException("stop at " + chunk);
                    }));
            assertEquals("stop at 1", stop.getMessage());
        }
    }

    @Test
    void perplexityConfigValidatesEveryField() {
        PerplexityConfig d = PerplexityConfig.defaults();
        assertEquals(512, d.contextSize());
        assertEquals(0, d.stride());
        assertEquals(false, d.addBos());
        assertEquals(255, d.scoredTokensPerChunk());
        assertEquals(d, d.toBuilder().build());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> PerplexityConfig.builder().contextSize(2).build()).getMessage().contains("contextSize"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> PerplexityConfig.builder().contextSize(8).stride(8).build()).getMessage().contains("stride"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> PerplexityConfig.builder().stride(-1).build()).getMessage().contains("stride"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> PerplexityConfig.builder().maxChunks(-1).build()).getMessage().contains("maxChunks"));
        assertEquals(0, PerplexityConfig.builder().contextSize(16).build().chunkCount(31), "refused: < 2n");
        assertEquals(2, PerplexityConfig.builder().contextSize(16).build().chunkCount(47));
        assertEquals(8, PerplexityConfig.builder().contextSize(16).stride(2).build().chunkCount(32));
    }
}
