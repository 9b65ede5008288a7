package dev.bloom4j.numerics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The KV cache against recomputation: logits of token-by-token decoding equal those of one full prefill, and a
 * truncated cache continues exactly as a fresh one. Both paths run the same f32 arithmetic in a different order, so
 * they agree to ~1e-6 of the logits' range; 1e-5 is the bound.
 */
class KvCacheConsistencyTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    static Path dir;
    static BloomModel model;

    @BeforeAll
    static void load() throws Exception {
        BloomConfig config = BloomConfig.of(1024, 48, 2, 6);
        model = BloomModel.load(RandomCheckpoint.builder(config).seed(11).dataType(DataType.F32).build()
                .writeTo(dir.resolve("model")));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static SessionConfig session(int batch) {
        return SessionConfig.builder().contextSize(64).batchSize(batch).threads(2).build();
    }

    @Test
    void incrementalDecodeEqualsFullPrefill() {
        int[] ids = LogitsAgainstReferenceTest.randomIds(24, 1024, 3);
        float[][] full;
        try (BloomSession s = model.newSession(session(64))) {
            s.evaluate(ids, true);
            full = s.logitsAll();
        }
        float[][] step = new float[ids.length][];
        try (BloomSession s = model.newSession(session(64))) {
            for (int i = 0; i < ids.length; i++) {
                s.evaluate(new int[] {ids[i]});
                step[i] = s.logits();
            }
            assertEquals(ids.length, s.position());
        }
        double error = relativeError(step, full);
        System.out.printf("incremental vs full prefill: max error %.3e of the logits' range%n", error);
        assertTrue(error <= TOLERANCE, "incremental decode differs from prefill by " + error);
    }

    @Test
    void truncatedCacheContinuesLikeAFreshOne() {
        int[] ids = LogitsAgainstReferenceTest.randomIds(20, 1024, 4);
        int[] other = LogitsAgainstReferenceTest.randomIds(20, 1024, 5);
        float[] fresh;
        try (BloomSession s = model.newSession(session(8))) {
            s.evaluate(ids);
            fresh = s.logits();
        }
        try (BloomSession s = model.newSession(session(8))) {
            // Fill the cache with a different continuation, cut back to the shared 12 tokens, then continue.
            int[] mixed = Arrays.copyOf(ids, 20);
            System.arraycopy(other, 12, mixed, 12, 8);
            s.evaluate(mixed);
            s.truncate(12);
            assertArrayEquals(Arrays.copyOf(ids, 12), s.cachedTokens());
            s.evaluate(Arrays.copyOfRange(ids, 12, 20));
            double error = relativeError(new float[][] {s.logits()}, new float[][] {fresh});
            assertTrue(error <= TOLERANCE, "continuing after truncate differs by " + error);
        }
    }

    @Test
    void generationReusesTheSharedPrefixAndAgreesWithAFreshSession() {
        int[] prompt = LogitsAgainstReferenceTest.randomIds(16, 1000, 6);
        int[] longer = Arrays.copyOf(prompt, 20);
        System.arraycopy(LogitsAgainstReferenceTest.randomIds(4, 1000, 7), 0, longer, 16, 4);
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(8).ignoreEos(true);
        Completion reused, fresh;
        try (BloomSession s = model.newSession(session(64))) {
            s.generate(prompt, greedy, (token, text) -> true);
            reused = s.generate(longer, greedy, (token, text) -> true);
        }
        try (BloomSession s = model.newSession(session(64))) {
            fresh = s.generate(longer, greedy, (token, text) -> true);
        }
        assertEquals(16, reused.reusedTokens(), "the first 16 prompt tokens were cached");
        assertEquals(0, fresh.reusedTokens());
        assertArrayEquals(fresh.ids(), reused.ids(), "greedy continuation with a reused prefix");
    }

    static double relativeError(float[][] actual, float[][] expected) {
        double maxErr = 0, maxRef = 0;
        for (int t = 0; t < expected.length; t++) {
            for (int v = 0; v < expected[t].length; v++) {
                maxErr = Math.max(maxErr, Math.abs(actual[t][v] - expected[t][v]));
                maxRef = Math.max(maxRef, Math.abs(expected[t][v]));
            }
        }
        return maxErr / maxRef;
    }
}
