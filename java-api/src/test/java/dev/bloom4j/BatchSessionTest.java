package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BatchSession} against {@link BloomSession}: every request of a batch must give exactly what the same prompt
 * and config give alone on a fresh session of the same context size (ids, text, finish reason, counts), whatever
 * else runs beside it. The tiny f32 model keeps every comparison exact (f32 KV cache).
 */
class BatchSessionTest {

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

    static SessionConfig config(int contextSize, int maxSequences) {
        return TinyModels.batchSession(contextSize, maxSequences);
    }

    /** One request: a prompt and its config. */
    record Request(int[] prompt, GenerationConfig config) {}

    /** Runs each request alone, from an empty cache, on one session of {@code contextSize}. */
    static List<Completion> oneByOne(List<Request> requests, int contextSize) {
        List<Completion> out = new ArrayList<>();
        try (BloomSession s = model.newSession(TinyModels.session(contextSize))) {
            for (Request r : requests) {
                s.clear();
                out.add(s.generate(r.prompt(), r.config(), null));
            }
        }
        return out;
    }

    static void assertSameCompletion(Completion expected, Completion actual, String what) {
        assertEquals(expected.text(), actual.text(), what + ": text");
        assertArrayEquals(expected.ids(), actual.ids(), what + ": ids");
        assertEquals(expected.finishReason(), actual.finishReason(), what + ": finish reason");
        assertEquals(expected.promptTokens(), actual.promptTokens(), what + ": prompt tokens");
        // A batch request may share the cells of a running request's common prompt start (exact counts:
        // BatchSessionPrefixSharingTest); what it computes is the same.
        assertTrue(actual.reusedTokens() >= expected.reusedTokens() && actual.reusedTokens() < actual.promptTokens(),
                what + ": reused tokens " + actual.reusedTokens() + " of " + actual.promptTokens());
        assertEquals(expected.generatedTokens(), actual.generatedTokens(), what + ": generated tokens");
    }

    static int[] randomPrompt(Random random, int length) {
        return TinyModels.randomPrompt(random, length);
    }

    /** For listeners that hold the scheduler thread until the test has done something; true: go on. */
    static boolean await(CountDownLatch latch) {
        try {
            return latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    static void awaitNoCellsUsed(BatchSession batch) throws InterruptedException {
        // A future cancelled from outside completes at once; its cells are freed at the scheduler's next step.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (batch.stats().cellsUsed() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(0, batch.stats().cellsUsed(), "every cell is free once all requests are done");
    }

    // ------------------------------------------------------------------------------------------ exactness

    @Test
    void greedyBatchesEqualOneByOneForMixesOfOneToSixteenRequests() throws Exception {
        // Lengths around and beyond the batch size (64): long prompts are evaluated over several steps, between the
        // other requests' tokens.
        int[] lengths = {1, 2, 5, 9, 17, 33, 63, 64, 65, 100, 150, 7, 3, 40, 120, 12};
        Random random = new Random(42);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < lengths.length; i++) {
            GenerationConfig config = GenerationConfig.greedy().maxTokens(4 + random.nextInt(20))
                    .ignoreEos(i % 2 == 0);
            requests.add(new Request(randomPrompt(random, lengths[i]), config));
        }
        int contextSize = 2048;
        List<Completion> expected = oneByOne(requests, contextSize);
        try (BatchSession batch = model.newBatchSession(config(contextSize, 16))) {
            for (int mix : new int[] {1, 2, 5, 16}) {
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < requests.size(); i++) {
                    order.add(i);
                }
                Collections.shuffle(order, new Random(mix));
                List<Integer> chosen = order.subList(0, mix);
                long stepsBefore = batch.stats().steps();
                List<CompletableFuture<Completion>> futures = new ArrayList<>();
                for (int i : chosen) {
                    futures.add(batch.submit(requests.get(i).prompt(), requests.get(i).config()));
                }
                for (int k = 0; k < mix; k++) {
                    int i = chosen.get(k);
                    assertSameCompletion(expected.get(i), futures.get(k).get(30, TimeUnit.SECONDS),
                            "mix of " + mix + ", request " + i + " (prompt " + lengths[i] + ")");
                }
                if (mix == 16) {
                    long steps = batch.stats().steps() - stepsBefore;
                    int longest = chosen.stream().mapToInt(i -> expected.get(i).generatedTokens()).max().orElseThrow();
                    int total = chosen.stream().mapToInt(i -> expected.get(i).generatedTokens()).sum();
                    // Sequences are decoded together: about one step per token of the longest, not per token of all.
                    assertTrue(steps < total / 2 && steps >= longest, steps + " steps for " + total + " tokens");
                }
            }
            BatchSession.Stats stats = batch.stats();
            assertTrue(stats.steps() > 0 && stats.prefillNanos() > 0 && stats.decodeNanos() > 0, stats.toString());
            assertEquals(0, stats.activeSequences());
            assertEquals(0, stats.waitingRequests());
            assertEquals(0, stats.cellsUsed());
            long prompts = 0;
            long generated = 0;
            for (int mix : new int[] {1, 2, 5, 16}) {
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < requests.size(); i++) {
                    order.add(i);
                }
                Collections.shuffle(order, new Random(mix));
                for (int i : order.subList(0, mix)) {
                    prompts += lengths[i];
                    generated += expected.get(i).generatedTokens();
                }
            }
            assertEquals(prompts, stats.promptTokens());
            assertEquals(generated, stats.generatedTokens());
        }
    }

    @Test
    void listenersSeeWhatBloomSessionListenersSee() throws Exception {
        int[] prompt = model.tokenize("The quick brown fox jumps over the lazy dog");
        GenerationConfig plain = GenerationConfig.greedy().maxTokens(20).ignoreEos(true);
        String full;
        try (BloomSession s = model.newSession(TinyModels.session(256))) {
            full = s.generate(prompt, plain, null).text();
        }
        assertTrue(full.length() > 6, full);
        // A stop string that never completes: the held-back text arrives last, with token -1.
        GenerationConfig config = plain.stop(full.substring(full.length() - 2) + "\u0001");
        List<Token> expected = new ArrayList<>();
        Completion alone;
        try (BloomSession s = model.newSession(TinyModels.session(256))) {
            alone = s.generate(prompt, config, (id, text) -> expected.add(new Token(id, text)));
        }
        assertEquals(-1, expected.get(expected.size() - 1).id());
        try (BatchSession batch = model.newBatchSession(config(256, 4))) {
            List<Token> seen = Collections.synchronizedList(new ArrayList<>());
            var other = batch.submit(randomPrompt(new Random(1), 30), plain);
            Completion c = batch.submit(prompt, config, (id, text) -> seen.add(new Token(id, text)))
                    .get(30, TimeUnit.SECONDS);
            other.get(30, TimeUnit.SECONDS);
            assertEquals(expected, seen);
            assertSameCompletion(alone, c, "with a listener");
            assertEquals(seen.stream().map(Token::text).collect(Collectors.joining()), c.text());
        }
    }

    // ------------------------------------------------------------------------------------------ reliability

    @Test
    void sixteenThreadsSubmittingTwoHundredRequestsGetTheOneByOneResults() throws Exception {
        Random random = new Random(2026);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            GenerationConfig config = GenerationConfig.greedy().maxTokens(random.nextInt(17))
                    .ignoreEos(random.nextBoolean());
            requests.add(new Request(randomPrompt(random, 1 + random.nextInt(40)), config));
        }
        int contextSize = 512;
        List<Completion> expected = oneByOne(requests, contextSize);

        Completion[] actual = new Completion[requests.size()];
        try (BatchSession batch = model.newBatchSession(config(contextSize, 16))) {
            List<Thread> threads = new ArrayList<>();
            CopyOnWriteArrayList<Throwable> failures = new CopyOnWriteArrayList<>();
            CountDownLatch start = new CountDownLatch(1);
            for (int t = 0; t < 16; t++) {
                int first = t;
                threads.add(Thread.ofPlatform().name("submitter-" + t).start(() -> {
                    try {
                        start.await();
                        List<CompletableFuture<Completion>> mine = new ArrayList<>();
                        for (int i = first; i < requests.size(); i += 16) {
                            mine.add(batch.submit(requests.get(i).prompt(), requests.get(i).config()));
                        }
                        for (int k = 0, i = first; i < requests.size(); i += 16, k++) {
                            actual[i] = mine.get(k).get(60, TimeUnit.SECONDS);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            start.countDown();
            for (Thread t : threads) {
                t.join();
            }
            assertTrue(failures.isEmpty(), failures.toString());
            assertEquals(0, batch.stats().cellsUsed());
        }
        for (int i = 0; i < requests.size(); i++) {
            assertSameCompletion(expected.get(i), actual[i], "request " + i);
        }
    }

    @Test
    void aFullPoolMakesRequestsWaitAndTheyStillFinishCorrectly() throws Exception {
        // 64 cells for 12 requests of ~30 cells each: at most two run at a time, the rest wait for cells.
        Random random = new Random(5);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            requests.add(new Request(randomPrompt(random, 10 + random.nextInt(10)),
                    GenerationConfig.greedy().maxTokens(14).ignoreEos(true)));
        }
        // One that needs the whole context: it runs alone and ends with a full context, as it does alone.
        requests.add(new Request(randomPrompt(random, 50), GenerationConfig.greedy().maxTokens(40).ignoreEos(true)));
        List<Completion> expected = oneByOne(requests, 64);
        assertEquals(FinishReason.CONTEXT_FULL, expected.get(12).finishReason());
        try (BatchSession batch = model.newBatchSession(config(64, 8))) {
            AtomicInteger mostActive = new AtomicInteger();
            CountDownLatch submitted = new CountDownLatch(1);
            List<CompletableFuture<Completion>> futures = new ArrayList<>();
            for (Request r : requests) {
                futures.add(batch.submit(r.prompt(), r.config(), (id, text) -> {
                    mostActive.accumulateAndGet(batch.stats().activeSequences(), Math::max);
                    // The scheduler waits here (listeners run on it) until every request is queued.
                    return await(submitted);
                }));
            }
            assertTrue(batch.stats().waitingRequests() >= requests.size() - 2, "requests wait for cells");
            submitted.countDown();
            for (int i = 0; i < requests.size(); i++) {
                assertSameCompletion(expected.get(i), futures.get(i).get(30, TimeUnit.SECONDS), "request " + i);
            }
            assertTrue(mostActive.get() <= 2, "at most two fit in 64 cells, saw " + mostActive.get());
            assertEquals(0, batch.stats().cellsUsed());
        }
    }

    // ------------------------------------------------------------------------------------------ samples

    @Test
    void samplesAreReproducibleAndEachEqualsASingleGenerationWithItsSeed() throws Exception {
        GenerationConfig config = GenerationConfig.sampling().temperature(1.3).topK(40).repetitionPenalty(1.2)
                .seed(11).maxTokens(16).ignoreEos(true).n(5);
        for (int[] prompt : List.of(randomPrompt(new Random(3), 23), new int[] {17}, randomPrompt(new Random(4), 90))) {
            List<Completion> first;
            List<Completion> second;
            try (BatchSession batch = model.newBatchSession(config(512, 8))) {
                var noise = batch.submit(randomPrompt(new Random(9), 12), GenerationConfig.greedy().maxTokens(30));
                first = batch.submitSamples(prompt, config).get(30, TimeUnit.SECONDS);
                second = batch.submitSamples(prompt, config).get(30, TimeUnit.SECONDS);
                noise.get(30, TimeUnit.SECONDS);
                assertEquals(0, batch.stats().cellsUsed());
            }
            assertEquals(5, first.size());
            for (int i = 0; i < 5; i++) {
                assertArrayEquals(first.get(i).ids(), second.get(i).ids(), "sample " + i + " is reproducible");
            }
            assertNotEquals(first.get(0).text(), first.get(1).text(), "samples differ");
            try (BloomSession s = model.newSession(TinyModels.session(512))) {
                for (int i = 0; i < 5; i++) {
                    s.clear();
                    Completion alone = s.generate(prompt, config.n(1).seed(11 + i), null);
                    Completion sample = first.get(i);
                    assertEquals(alone.text(), sample.text(), "sample " + i + " = seed " + (11 + i));
                    assertArrayEquals(alone.ids(), sample.ids(), "sample " + i + " = seed " + (11 + i));
                    assertEquals(alone.finishReason(), sample.finishReason());
                    assertEquals(prompt.length, sample.promptTokens());
                    assertEquals(i == 0 ? 0 : prompt.length - 1, sample.reusedTokens(),
                            "samples after the first share the prompt's cells");
                }
            }
        }
    }

    @Test
    void samplesThatDoNotFitAtOnceWaitForFreeSequences() throws Exception {
        GenerationConfig config = GenerationConfig.sampling().seed(3).maxTokens(6).ignoreEos(true).n(3);
        int[] prompt = randomPrompt(new Random(8), 10);
        try (BatchSession batch = model.newBatchSession(config(256, 3))) {
            var busy = batch.submit(prompt, GenerationConfig.greedy().maxTokens(12).ignoreEos(true));
            var samples = batch.submitSamples(prompt, config);
            assertEquals(12, busy.get(30, TimeUnit.SECONDS).generatedTokens());
            List<Completion> all = samples.get(30, TimeUnit.SECONDS);
            assertEquals(3, all.size());
            all.forEach(c -> assertEquals(6, c.generatedTokens()));
            var e = assertThrows(IllegalArgumentException.class, () -> batch.submitSamples(prompt, config.n(4)));
            assertTrue(e.getMessage().contains("4 samples") && e.getMessage().contains("3 sequences"),
                    e.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------------ cancellation

    @Test
    void cancellingOneRequestFreesItsCellsAndLeavesTheOthersUnchanged() throws Exception {
        Random random = new Random(77);
        List<Request> requests = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            requests.add(new Request(randomPrompt(random, 5 + 20 * i),
                    GenerationConfig.greedy().maxTokens(40).ignoreEos(true)));
        }
        List<Completion> expected = oneByOne(requests, 1024);
        try (BatchSession batch = model.newBatchSession(config(1024, 8))) {
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch cancelled = new CountDownLatch(1);
            List<CompletableFuture<Completion>> futures = new ArrayList<>();
            for (int i = 0; i < requests.size(); i++) {
                TokenListener listener = switch (i) {
                    case 1 -> (id, text) -> {
                        started.countDown();
                        return await(cancelled); // holds the scheduler until the future is cancelled
                    };
                    case 2 -> new TokenListener() { // cancels itself after three tokens
                        int seen;

                        @Override
                        public boolean onToken(int id, String text) {
                            return ++seen < 3;
                        }
                    };
                    case 3 -> (id, text) -> {
                        throw new IllegalStateException("listener failed");
                    };
                    default -> null;
                };
                futures.add(batch.submit(requests.get(i).prompt(), requests.get(i).config(), listener));
            }
            assertTrue(started.await(30, TimeUnit.SECONDS));
            assertTrue(futures.get(1).cancel(true));
            cancelled.countDown();

            assertThrows(CancellationException.class, () -> futures.get(1).join());
            Completion byListener = futures.get(2).get(30, TimeUnit.SECONDS);
            assertEquals(FinishReason.CANCELLED, byListener.finishReason());
            assertArrayEquals(java.util.Arrays.copyOf(expected.get(2).ids(), 3), byListener.ids());
            var failed = assertThrows(ExecutionException.class, () -> futures.get(3).get(30, TimeUnit.SECONDS));
            assertEquals("listener failed", failed.getCause().getMessage());
            for (int i : new int[] {0, 4, 5}) {
                assertSameCompletion(expected.get(i), futures.get(i).get(30, TimeUnit.SECONDS), "request " + i);
            }
            awaitNoCellsUsed(batch);
            // The session goes on normally.
            assertSameCompletion(expected.get(1), batch.submit(requests.get(1).prompt(), requests.get(1).config())
                    .get(30, TimeUnit.SECONDS), "request 1 again");
        }
    }

    @Test
    void closingCancelsWaitingAndRunningRequests() throws Exception {
        BatchSession batch = model.newBatchSession(config(128, 2));
        GenerationConfig longRun = GenerationConfig.greedy().maxTokens(100_000).ignoreEos(true);
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch closing = new CountDownLatch(1);
        var first = batch.submit(new int[] {5, 6, 7}, longRun, (id, text) -> {
            running.countDown();
            return await(closing); // holds the scheduler until close() has begun
        });
        List<CompletableFuture<Completion>> more = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            more.add(batch.submit(new int[] {8, 9, 10 + i}, longRun));
        }
        assertTrue(running.await(30, TimeUnit.SECONDS));
        Thread closer = Thread.ofPlatform().start(batch::close);
        while (!batch.toString().endsWith(", closed]")) {
            Thread.sleep(1);
        }
        closing.countDown();
        closer.join();
        batch.close();
        assertTrue(first.isCancelled());
        more.forEach(f -> assertTrue(f.isCancelled()));
        var e = assertThrows(IllegalStateException.class, () -> batch.submit("x", GenerationConfig.greedy()));
        assertEquals("BatchSession is closed", e.getMessage());
        e = assertThrows(IllegalStateException.class,
                () -> batch.submitSamples(new int[] {1}, GenerationConfig.greedy().n(2)));
        assertEquals("BatchSession is closed", e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> batch.publish("x", GenerationConfig.greedy()));
        assertEquals("BatchSession is closed", e.getMessage());
        assertFalse(batch.toString().isEmpty());
    }

    // ------------------------------------------------------------------------------------------ Flow

    /** Requests one token at a time, as a slow consumer would. */
    static class OneByOne implements Flow.Subscriber<Token> {
        final List<Token> tokens = new CopyOnWriteArrayList<>();
        final CompletableFuture<Void> done = new CompletableFuture<>();
        final int cancelAfter;
        Flow.Subscription subscription;

        OneByOne(int cancelAfter) {
            this.cancelAfter = cancelAfter;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(1);
        }

        @Override
        public void onNext(Token t) {
            tokens.add(t);
            if (tokens.size() == cancelAfter) {
                subscription.cancel();
                done.complete(null);
            } else {
                subscription.request(1);
            }
        }

        @Override
        public void onError(Throwable e) {
            done.completeExceptionally(e);
        }

        @Override
        public void onComplete() {
            done.complete(null);
        }
    }

    @Test
    void publishDeliversTheListenersTokensOnDemandAndCancelStops() throws Exception {
        String prompt = "Once upon a time";
        GenerationConfig config = GenerationConfig.greedy().maxTokens(12).ignoreEos(true);
        List<Token> expected = new ArrayList<>();
        try (BloomSession s = model.newSession(TinyModels.session(128))) {
            s.generate(model.tokenize(prompt), config, (id, text) -> expected.add(new Token(id, text)));
        }
        try (BatchSession batch = model.newBatchSession(config(128, 4))) {
            OneByOne all = new OneByOne(Integer.MAX_VALUE);
            batch.publish(prompt, config).subscribe(all);
            all.done.get(30, TimeUnit.SECONDS);
            assertEquals(expected, all.tokens);

            OneByOne some = new OneByOne(3);
            Flow.Publisher<Token> publisher = batch.publish(prompt, config.maxTokens(100_000));
            publisher.subscribe(some);
            some.done.get(30, TimeUnit.SECONDS);
            assertEquals(expected.subList(0, 3), some.tokens);
            awaitNoCellsUsed(batch);

            OneByOne second = new OneByOne(Integer.MAX_VALUE);
            publisher.subscribe(second);
            var e = assertThrows(ExecutionException.class, () -> second.done.get(30, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, e.getCause());

            OneByOne bad = new OneByOne(Integer.MAX_VALUE) {
                @Override
                public void onSubscribe(Flow.Subscription s) {
                    subscription = s;
                    s.request(0);
                }
            };
            batch.publish(prompt, config).subscribe(bad);
            e = assertThrows(ExecutionException.class, () -> bad.done.get(30, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IllegalArgumentException
                    && e.getCause().getMessage().contains("3.9"), String.valueOf(e.getCause()));
            awaitNoCellsUsed(batch);
        }
    }

    // ------------------------------------------------------------------------------------------ bad input

    @Test
    void badInputIsRejectedInTheCallingThreadWithAClearMessage() {
        try (BatchSession batch = model.newBatchSession(config(32, 4))) {
            assertEquals(32, batch.contextSize());
            assertEquals(4, batch.maxSequences());
            assertEquals(32, batch.batchSize(), "n_batch is at most n_ctx");
            var e = assertThrows(IllegalArgumentException.class, () -> batch.submit("", GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt must not be empty"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> batch.submit(new int[0], GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt must not be empty"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> batch.submit(new int[] {1, 5000}, GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt[1] = 5000"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> batch.submitSamples(new int[] {-3}, GenerationConfig.greedy()));
            assertTrue(e.getMessage().contains("prompt[0] = -3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> batch.submit(new int[] {1}, GenerationConfig.greedy().n(2)));
            assertTrue(e.getMessage().contains("submitSamples"), e.getMessage());
            var full = assertThrows(ContextFullException.class,
                    () -> batch.submit(new int[33], GenerationConfig.greedy()));
            assertTrue(full.getMessage().contains("33 tokens") && full.getMessage().contains("holds 32"),
                    full.getMessage());
            var closing = assertThrows(IllegalStateException.class, model::close);
            assertTrue(closing.getMessage().contains("1 session is still open"), closing.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> config(32, 0));
        assertTrue(e.getMessage().startsWith("maxSequences must be in [1, 256]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> config(32, 257));
        assertTrue(e.getMessage().startsWith("maxSequences"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.greedy().n(0));
        assertTrue(e.getMessage().startsWith("n must be in [1, 256]"), e.getMessage());
        assertEquals(1, SessionConfig.defaults().maxSequences(), "bloom_context_default_params: n_seq_max 1");
        assertEquals(1, GenerationConfig.greedy().n());
    }

    @Test
    void aListenerMayCloseTheSessionFromTheSchedulerThread() throws Exception {
        BatchSession batch = model.newBatchSession(config(128, 2));
        CompletableFuture<Completion> f = batch.submit(new int[] {4, 5, 6}, GenerationConfig.greedy()
                .maxTokens(50).ignoreEos(true), (id, text) -> {
                    batch.close();
                    return true;
                });
        assertThrows(CancellationException.class, () -> f.get(30, TimeUnit.SECONDS));
        batch.close(); // joins the scheduler
        assertThrows(IllegalStateException.class, () -> batch.submit("x", GenerationConfig.greedy()));
        assertSame(model, batch.model());
    }
}
