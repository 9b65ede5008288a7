package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BloomSessionTest {

    @TempDir
    static Path temp;

    static BloomModel model;

    @BeforeAll
    static void load() {
        model = BloomModel.load(TinyModels.random(temp.resolve("tiny"), 5, DataType.F32));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void evaluateAppendsToTheCacheAndExposesLogits() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            assertEquals(64, s.contextSize());
            assertEquals(0, s.position());
            int[] ids = {10, 20, 30, 40};
            s.evaluate(ids, true);
            assertEquals(4, s.position());
            assertArrayEquals(ids, s.cachedTokens());
            float[][] rows = s.logitsAll();
            assertEquals(4, rows.length);
            for (float[] row : rows) {
                assertEquals(1024, row.length);
            }
            assertArrayEquals(rows[3], s.logits());

            s.evaluate(new int[] {50});
            assertEquals(5, s.position());
            assertEquals(1, s.logitsAll().length, "without allLogits only the last row is kept");
            assertArrayEquals(new int[] {10, 20, 30, 40, 50}, s.cachedTokens());
        }
    }

    @Test
    void truncateAndClearDropCachedTokens() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            s.evaluate(new int[] {1, 2, 3, 4, 5});
            s.truncate(2);
            assertArrayEquals(new int[] {1, 2}, s.cachedTokens());
            var e = assertThrows(IllegalStateException.class, s::logits);
            assertTrue(e.getMessage().startsWith("no logits"), e.getMessage());
            var bad = assertThrows(IllegalArgumentException.class, () -> s.truncate(3));
            assertTrue(bad.getMessage().contains("keep must be in [0, 2]"), bad.getMessage());
            s.clear();
            assertEquals(0, s.position());
            assertEquals(0, s.cachedTokens().length);
        }
    }

    @Test
    void invalidTokensAreRejectedBeforeTheNativeCall() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            var e = assertThrows(IllegalArgumentException.class, () -> s.evaluate(new int[] {1, 1024}));
            assertTrue(e.getMessage().contains("tokens[1] = 1024"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.evaluate(new int[] {-7}));
            assertTrue(e.getMessage().contains("-7"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.evaluate(new int[0]));
            assertTrue(e.getMessage().contains("empty"), e.getMessage());
            assertEquals(0, s.position(), "nothing was evaluated");
        }
    }

    @Test
    void contextOverflowNamesBothNumbers() {
        try (BloomSession s = model.newSession(TinyModels.session(8))) {
            s.evaluate(new int[] {1, 2, 3, 4, 5, 6});
            var e = assertThrows(ContextFullException.class, () -> s.evaluate(new int[] {7, 8, 9}));
            assertTrue(e.getMessage().contains("3 tokens") && e.getMessage().contains("6 cached")
                    && e.getMessage().contains("holds 8"), e.getMessage());
            assertEquals(6, s.position(), "nothing was evaluated");

            int[] longPrompt = new int[9];
            java.util.Arrays.fill(longPrompt, 42);
            e = assertThrows(ContextFullException.class,
                    () -> s.generate(longPrompt, GenerationConfig.greedy(), null));
            assertTrue(e.getMessage().contains("9 tokens") && e.getMessage().contains("holds 8"), e.getMessage());
            e = assertThrows(ContextFullException.class, () -> s.stream(longPrompt, GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("9 tokens") && e.getMessage().contains("holds 8"), e.getMessage());
            assertEquals(BloomStatus.CONTEXT_FULL, e.status());
        }
    }

    @Test
    void aSessionMovesBetweenThreadsOneCallAfterAnother() throws Exception {
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(6).ignoreEos(true);
        int[] alone;
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            alone = s.generate("Once upon", greedy).ids();
        }
        BloomSession s = model.newSession(TinyModels.session(64));
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
            // The same generation, each call on another thread: an executor's, a virtual thread, this one.
            int[] prompt = model.tokenize("Once upon");
            pool.submit(() -> s.evaluate(prompt)).get();
            List<Integer> ids = new java.util.ArrayList<>();
            Thread.ofVirtual().start(() -> ids.add(argmax(s.logits()))).join();
            for (int i = 1; i < 6; i++) {
                int next = ids.get(ids.size() - 1);
                Runnable step = () -> {
                    s.evaluate(new int[] {next});
                    ids.add(argmax(s.logits()));
                };
                if (i % 2 == 0) {
                    pool.submit(step).get();
                } else {
                    step.run();
                }
            }
            assertArrayEquals(alone, ids.stream().mapToInt(Integer::intValue).toArray());
            // A token stream opened on one thread, read on two others.
            s.clear();
            var stream = s.stream("Once upon", greedy).iterator();
            List<Integer> streamed = new java.util.ArrayList<>();
            while (streamed.size() < 6) {
                streamed.add(pool.submit(() -> stream.next().id()).get());
                int[] id = new int[1];
                Thread.ofVirtual().start(() -> id[0] = stream.next().id()).join();
                streamed.add(id[0]);
            }
            assertArrayEquals(alone, streamed.stream().mapToInt(Integer::intValue).toArray());
            pool.submit(s::close).get();  // closed from another thread
        }
        assertThrows(IllegalStateException.class, s::position);
    }

    @Test
    void concurrentUseIsRefusedNamingBothThreadsAndChangesNothing() throws Exception {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            var inside = new java.util.concurrent.CountDownLatch(1);
            var release = new java.util.concurrent.CountDownLatch(1);
            CompletableFuture<Completion> first = new CompletableFuture<>();
            Thread holder = Thread.ofPlatform().name("holder").start(() -> {
                try {
                    first.complete(s.generate(model.tokenize("Once upon"),
                            GenerationConfig.greedy().maxTokens(3).ignoreEos(true), (id, text) -> {
                                inside.countDown();
                                try {
                                    release.await();
                                } catch (InterruptedException e) {
                                    Thread.currentThread().interrupt();
                                }
                                return true;
                            }));
                } catch (Throwable t) {
                    first.completeExceptionally(t);
                }
            });
            inside.await();
            List<Runnable> calls = List.of(s::position, s::logits, () -> s.evaluate(new int[] {3}),
                    () -> s.generate("hi", GenerationConfig.greedy()), () -> s.stream("hi", GenerationConfig.greedy()),
                    s::clear, s::close);
            for (Runnable call : calls) {
                var e = assertThrows(ConcurrentUseException.class, call::run);
                assertTrue(e.getMessage().contains("\"" + Thread.currentThread().getName() + "\"")
                        && e.getMessage().contains("\"holder\""), e.getMessage());
                assertEquals(BloomStatus.BUSY, e.status());
            }
            release.countDown();
            holder.join();
            assertEquals(3, first.get().generatedTokens());
            try (BloomSession alone = model.newSession(TinyModels.session(64))) {
                alone.generate(model.tokenize("Once upon"), GenerationConfig.greedy().maxTokens(3).ignoreEos(true),
                        (id, text) -> true);
                assertEquals(alone.position(), s.position(), "untouched by the refused calls");
            }
        }
    }

    private static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseIsIllegalState() {
        BloomSession s = model.newSession(TinyModels.session(32));
        s.evaluate(new int[] {1});
        s.close();
        s.close();
        for (Runnable call : List.<Runnable>of(s::position, s::logits, s::cachedTokens, s::contextSize,
                () -> s.evaluate(new int[] {1}), () -> s.truncate(0), () -> s.generate("x", GenerationConfig.greedy()),
                () -> s.stream("x", GenerationConfig.greedy()))) {
            var e = assertThrows(IllegalStateException.class, call::run);
            assertEquals("BloomSession is closed", e.getMessage());
        }
    }

    @Test
    void sessionConfigDefaultsComeFromTheNativeLibraryAndAreValidated() {
        SessionConfig d = SessionConfig.defaults();
        assertEquals(2048, d.contextSize());
        assertEquals(512, d.batchSize());
        assertEquals(0, d.threads());
        var e = assertThrows(IllegalArgumentException.class, () -> SessionConfig.builder().batchSize(0).build());
        assertTrue(e.getMessage().startsWith("batchSize"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SessionConfig.builder().contextSize(-1).build());
        assertTrue(e.getMessage().startsWith("contextSize"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new SessionConfig(16, 16, -2, KvCacheType.AUTO, FlashAttention.AUTO, 1));
        assertTrue(e.getMessage().startsWith("threads"), e.getMessage());
        assertEquals(KvCacheType.AUTO, d.kvCacheType());
        assertEquals(FlashAttention.AUTO, d.flashAttention());
        e = assertThrows(IllegalArgumentException.class, () -> SessionConfig.builder().kvCacheType(null).build());
        assertTrue(e.getMessage().startsWith("kvCacheType"), e.getMessage());
    }

    @Test
    void autoCacheTypeFollowsTheWeightsAndAutoFlashAttentionTheContextSize() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            assertEquals(KvCacheType.F32, s.kvCacheType(), "f32 weights keep an exact cache");
            assertEquals(FlashAttention.ON, s.flashAttention());
        }
        try (BloomSession s = model.newSession(TinyModels.session(2050))) {
            assertEquals(FlashAttention.OFF, s.flashAttention(), "distances above 2048 are not exact in f16");
        }
        try (BloomModel f16 = BloomModel.load(TinyModels.random(temp.resolve("tiny-f16"), 5, DataType.F16));
             BloomSession s = f16.newSession(TinyModels.session(64))) {
            assertEquals(KvCacheType.F16, s.kvCacheType());
        }
    }

    @Test
    void everyAttentionPathComputesTheSameLogits() {
        // Flash attention and the softmax path over an f32 cache agree to float32 rounding; an f16 cache moves the
        // logits by about f16's precision, not more.
        int[] ids = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3};
        float[][] exact = logitsWith(ids, KvCacheType.F32, FlashAttention.OFF);
        double range = 0;
        for (float[] row : exact) {
            for (float v : row) {
                range = Math.max(range, Math.abs(v));
            }
        }
        assertEquals(0, maxDifference(exact, logitsWith(ids, KvCacheType.F32, FlashAttention.ON)) / range, 1e-5);
        double f16 = maxDifference(exact, logitsWith(ids, KvCacheType.F16, FlashAttention.ON)) / range;
        assertTrue(f16 > 0 && f16 < 2e-3, "f16 cache: " + f16);
        assertEquals(0, maxDifference(exact, logitsWith(ids, KvCacheType.F16, FlashAttention.OFF)) / range, 2e-3);
    }

    private static float[][] logitsWith(int[] ids, KvCacheType kv, FlashAttention fa) {
        SessionConfig config = TinyModels.session(64).toBuilder().batchSize(5).kvCacheType(kv).flashAttention(fa)
                .build();
        try (BloomSession s = model.newSession(config)) {
            s.evaluate(ids, true);
            return s.logitsAll();
        }
    }

    private static double maxDifference(float[][] a, float[][] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return max;
    }

    @Test
    void contextSizeZeroMeansTheTrainingLength() {
        try (BloomSession s = model.newSession(TinyModels.session(0))) {
            assertEquals(256, s.contextSize());
        }
    }
}
