package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@link BatchSession} shares the cells of a common prompt start with a running request whose prompt is
 * evaluated. A request that shares must still compute exactly what it computes alone on a fresh
 * {@link BloomSession} of the same context size, and {@link BatchSession.Stats#reusedTokens()} must count exactly
 * the shared tokens. Listeners hold the scheduler thread so that the request to share from is known to be running
 * (its prompt evaluated) when the others are admitted: the shared lengths are then deterministic.
 */
class BatchSessionPrefixSharingTest {

    static final int CONTEXT = 512;

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

    static SessionConfig batchConfig(int maxSequences) {
        return TinyModels.batchSession(CONTEXT, maxSequences);
    }

    static int[] randomPrompt(Random random, int length) {
        return TinyModels.randomPrompt(random, length);
    }

    /** {@code ids[0..keep)} followed by {@code extra} tokens, the first of which differs from {@code ids[keep]}. */
    static int[] divergeAfter(int[] ids, int keep, int extra, Random random) {
        int[] out = Arrays.copyOf(ids, keep + extra);
        for (int i = keep; i < out.length; i++) {
            out[i] = 3 + random.nextInt(990);
        }
        if (keep < ids.length && out[keep] == ids[keep]) {
            out[keep] = ids[keep] == 3 ? 4 : 3;
        }
        return out;
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static Completion alone(int[] prompt, GenerationConfig config) {
        try (BloomSession s = model.newSession(TinyModels.session(CONTEXT))) {
            return s.generate(prompt, config, null);
        }
    }

    static void assertSameGeneration(Completion expected, Completion actual, String what) {
        assertEquals(expected.text(), actual.text(), what + ": text");
        assertArrayEquals(expected.ids(), actual.ids(), what + ": ids");
        assertEquals(expected.finishReason(), actual.finishReason(), what + ": finish reason");
        assertEquals(expected.generatedTokens(), actual.generatedTokens(), what + ": generated tokens");
    }

    static boolean await(CountDownLatch latch) {
        try {
            return latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A listener for the request to share from: on its first token (its prompt evaluated) it opens {@code started}
     * and holds the scheduler until {@code submitted} opens, so that everything submitted meanwhile is admitted while
     * it runs.
     */
    static TokenListener holdOnFirstToken(CountDownLatch started, CountDownLatch submitted) {
        return (id, text) -> {
            if (started.getCount() > 0) {
                started.countDown();
                return await(submitted);
            }
            return true;
        };
    }

    /** One request sharing from the running one, and the tokens it must reuse. */
    record Sharer(String name, int[] prompt, GenerationConfig config, int expectedReuse) {}

    @Test
    void aPromptStartingLikeARunningOnesReusesExactlyTheCommonStartAndComputesTheSame() throws Exception {
        Random random = new Random(77);
        int[] p = randomPrompt(random, 40);
        GenerationConfig aConfig = GenerationConfig.greedy().maxTokens(40).ignoreEos(true);
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(20).ignoreEos(true);
        int[] unrelated = randomPrompt(random, 25);
        if (unrelated[0] == p[0]) {
            unrelated[0] = p[0] == 3 ? 4 : 3;
        }
        List<Sharer> sharers = List.of(
                new Sharer("30 common tokens then 5 others", divergeAfter(p, 30, 5, random), greedy, 30),
                // The last prompt token is always evaluated by the request itself (it needs its logits).
                new Sharer("a start of P", Arrays.copyOf(p, 21), greedy, 20),
                new Sharer("P itself", p.clone(), greedy, 39),
                new Sharer("P and 6 more", concat(p, randomPrompt(random, 6)), greedy, 40),
                new Sharer("no common start", unrelated, greedy, 0),
                new Sharer("1 common token", divergeAfter(p, 1, 9, random), greedy, 1));

        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch submitted = new CountDownLatch(1);
        try (BatchSession batch = model.newBatchSession(batchConfig(1 + sharers.size()))) {
            CompletableFuture<Completion> a = batch.submit(p, aConfig, holdOnFirstToken(started, submitted));
            assertTrue(await(started), "A produced its first token");
            BatchSession.Stats before = batch.stats();
            assertEquals(0, before.reusedTokens(), "nothing shared before");
            List<CompletableFuture<Completion>> futures = new ArrayList<>();
            for (Sharer s : sharers) {
                futures.add(batch.submit(s.prompt(), s.config()));
            }
            submitted.countDown();
            long expectedReuse = 0;
            long expectedEvaluated = 0;
            for (int i = 0; i < sharers.size(); i++) {
                Sharer s = sharers.get(i);
                Completion c = futures.get(i).get(30, TimeUnit.SECONDS);
                assertSameGeneration(alone(s.prompt(), s.config()), c, s.name());
                assertEquals(s.prompt().length, c.promptTokens(), s.name() + ": prompt tokens");
                assertEquals(s.expectedReuse(), c.reusedTokens(), s.name() + ": reused tokens of its completion");
                expectedReuse += s.expectedReuse();
                expectedEvaluated += s.prompt().length - s.expectedReuse();
            }
            Completion aDone = a.get(30, TimeUnit.SECONDS);
            assertSameGeneration(alone(p, aConfig), aDone, "A, shared from");
            assertEquals(0, aDone.reusedTokens(), "A itself reused nothing");
            BatchSession.Stats after = batch.stats();
            assertEquals(expectedReuse, after.reusedTokens() - before.reusedTokens(), "Stats.reusedTokens grew by");
            assertEquals(expectedEvaluated + p.length, after.promptTokens(), "Stats.promptTokens: only the rest");
            assertEquals(0, after.cellsUsed());

            // Once A has finished, its cells are gone: nothing to share from.
            Sharer first = sharers.get(0);
            Completion late = batch.submit(first.prompt(), first.config()).get(30, TimeUnit.SECONDS);
            assertEquals(0, late.reusedTokens(), "no running request to share from");
            assertEquals(after.reusedTokens(), batch.stats().reusedTokens(), "Stats.reusedTokens unchanged");
            assertSameGeneration(alone(first.prompt(), first.config()), late, "after A");
        }
    }

    @Test
    void sharedCellsOutliveTheRequestThatEvaluatedThem() throws Exception {
        // A stops two tokens after B has taken its cells; D, submitted after A is done, writes into the cache while B
        // still reads the shared cells. B must still compute what it computes alone.
        Random random = new Random(78);
        int[] p = randomPrompt(random, 40);
        int[] b = divergeAfter(p, 30, 5, random);
        int[] d = randomPrompt(random, 60);
        if (d[0] == p[0]) {
            d[0] = p[0] == 3 ? 4 : 3;
        }
        GenerationConfig aConfig = GenerationConfig.greedy().maxTokens(2).ignoreEos(true);
        GenerationConfig bConfig = GenerationConfig.greedy().maxTokens(30).ignoreEos(true);
        GenerationConfig dConfig = GenerationConfig.greedy().maxTokens(10).ignoreEos(true);

        CountDownLatch aStarted = new CountDownLatch(1);
        CountDownLatch bSubmitted = new CountDownLatch(1);
        CountDownLatch dSubmitted = new CountDownLatch(1);
        try (BatchSession batch = model.newBatchSession(batchConfig(3))) {
            var fa = batch.submit(p, aConfig, holdOnFirstToken(aStarted, bSubmitted));
            assertTrue(await(aStarted));
            // At its fifth token (A long done), B waits until D is queued before going on.
            AtomicInteger bTokens = new AtomicInteger();
            var fb = batch.submit(b, bConfig, (id, text) -> id < 0 || bTokens.incrementAndGet() != 5
                    || await(dSubmitted));
            bSubmitted.countDown();
            Completion aDone = fa.get(30, TimeUnit.SECONDS);
            assertEquals(2, aDone.generatedTokens());
            assertFalse(fb.isDone(), "B still runs after A");
            var fd = batch.submit(d, dConfig);
            dSubmitted.countDown();
            Completion bDone = fb.get(30, TimeUnit.SECONDS);
            Completion dDone = fd.get(30, TimeUnit.SECONDS);
            assertEquals(30, bDone.reusedTokens());
            assertEquals(0, dDone.reusedTokens());
            assertEquals(30, batch.stats().reusedTokens());
            assertSameGeneration(alone(b, bConfig), bDone, "B, sharing A's freed cells");
            assertSameGeneration(alone(d, dConfig), dDone, "D");
            assertSameGeneration(alone(p, aConfig), aDone, "A");
            assertEquals(0, batch.stats().cellsUsed());
        }
    }

    @Test
    void samplesOfAPromptStartingLikeARunningOneShareItAndStillEqualSingleGenerations() throws Exception {
        Random random = new Random(79);
        int[] p = randomPrompt(random, 40);
        int[] q = divergeAfter(p, 30, 3, random);
        GenerationConfig aConfig = GenerationConfig.greedy().maxTokens(30).ignoreEos(true);
        GenerationConfig samples = GenerationConfig.sampling().temperature(1.5).repetitionPenalty(1.3).seed(7)
                .maxTokens(12).ignoreEos(true).n(3);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch submitted = new CountDownLatch(1);
        try (BatchSession batch = model.newBatchSession(batchConfig(4))) {
            var fa = batch.submit(p, aConfig, holdOnFirstToken(started, submitted));
            assertTrue(await(started));
            var fs = batch.submitSamples(q, samples);
            submitted.countDown();
            List<Completion> all = fs.get(30, TimeUnit.SECONDS);
            fa.get(30, TimeUnit.SECONDS);
            // Sample 0 shares the 30 common tokens with A; the others share the prompt's first q.length - 1 cells
            // with sample 0, as samples always do.
            assertEquals(30, all.get(0).reusedTokens(), "sample 0");
            assertEquals(q.length - 1, all.get(1).reusedTokens(), "sample 1");
            assertEquals(q.length - 1, all.get(2).reusedTokens(), "sample 2");
            assertEquals(30 + 2L * (q.length - 1), batch.stats().reusedTokens());
            assertNotEquals(all.get(0).text(), all.get(1).text(), "samples differ");
            try (BloomSession s = model.newSession(TinyModels.session(CONTEXT))) {
                for (int i = 0; i < 3; i++) {
                    s.clear();
                    assertSameGeneration(s.generate(q, samples.n(1).seed(7 + i), null), all.get(i), "sample " + i);
                }
            }
        }
    }
}
