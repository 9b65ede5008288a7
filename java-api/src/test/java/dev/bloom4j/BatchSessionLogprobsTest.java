package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Log-probabilities a {@link BatchSession} reports per generated token ({@link GenerationConfig#logprobs(int)}),
 * against a reference computed here: the raw logits of the same prefix from {@link BloomSession#logitsAll()},
 * log-softmaxed in double. Tolerance {@value #TOLERANCE} absolute on log-probabilities: the checkpoint and the KV cache
 * are f32, and the two paths differ only in how the tokens are batched. Also {@link BatchSession.SampleListener}, and
 * the validation of the new field.
 */
class BatchSessionLogprobsTest {

    static final double TOLERANCE = 1e-4;

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

    static SessionConfig batchConfig(int contextSize, int maxSequences) {
        return TinyModels.batchSession(contextSize, maxSequences);
    }

    static int[] randomPrompt(Random random, int length) {
        return TinyModels.randomPrompt(random, length);
    }

    /** One listener call. */
    record Call(int id, String text, TokenLogprobs logprobs) {}

    /** Records every call; a {@link TokenListener} that overrides the 3-argument method, as the Javadoc says to. */
    static final class Recorder implements TokenListener {
        final List<Call> calls = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger twoArgumentCalls = new AtomicInteger();

        @Override
        public boolean onToken(int tokenId, String text) {
            twoArgumentCalls.incrementAndGet();
            return true;
        }

        @Override
        public boolean onToken(int tokenId, String text, TokenLogprobs logprobs) {
            calls.add(new Call(tokenId, text, logprobs));
            return true;
        }

        List<Call> tokens() {
            return calls.stream().filter(c -> c.id() >= 0).toList();
        }
    }

    // ------------------------------------------------------------------------------------------ the reference

    /** log softmax(row) in double. */
    static double[] logSoftmax(float[] row) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        double[] out = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            out[i] = row[i] - logZ;
        }
        return out;
    }

    /**
     * The raw logits that predicted each generated token: prompt and generated prefix evaluated in one call with
     * every row kept, row {@code prompt.length - 1 + j} predicting {@code generated[j]}.
     */
    static float[][] referenceLogits(int[] prompt, int[] generated) {
        int[] all = new int[prompt.length + generated.length - 1];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length - 1);
        // One batch for the whole sequence, so logitsAll() holds every row.
        try (BloomSession s = model.newSession(SessionConfig.builder().contextSize(256).batchSize(256).threads(1)
                .build())) {
            s.evaluate(all, true);
            float[][] rows = s.logitsAll();
            assertEquals(all.length, rows.length, "rows of logitsAll");
            return Arrays.copyOfRange(rows, prompt.length - 1, rows.length);
        }
    }

    /** The reference's log-probabilities per generated token. */
    static double[][] reference(int[] prompt, int[] generated) {
        float[][] logits = referenceLogits(prompt, generated);
        double[][] out = new double[logits.length][];
        for (int j = 0; j < logits.length; j++) {
            out[j] = logSoftmax(logits[j]);
        }
        return out;
    }

    /** Ids by descending log-probability, equal ones by lower id: the order TokenLogprobs documents. */
    static int[] ranking(double[] logprobs) {
        Integer[] ids = new Integer[logprobs.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        Arrays.sort(ids, (a, b) -> logprobs[a] != logprobs[b] ? Double.compare(logprobs[b], logprobs[a])
                : Integer.compare(a, b));
        return Arrays.stream(ids).mapToInt(Integer::intValue).toArray();
    }

    /**
     * One step's logprobs against the reference row: the token's own, then each of the k alternatives by rank
     * (value) and by id (the value of that id in the row), the ids distinct; the ids exactly the reference's top k
     * unless two reference values within the tolerance make the order ambiguous.
     */
    static void assertMatches(double[] expected, int token, int k, TokenLogprobs actual, String what) {
        assertNotNull(actual, what + ": logprobs");
        assertEquals(token, actual.tokenId(), what + ": tokenId");
        assertTrue(actual.logprob() <= 0, what + ": logprob " + actual.logprob() + " <= 0");
        assertEquals(expected[token], actual.logprob(), TOLERANCE, what + ": logprob of token " + token);
        int[] ids = actual.topIds();
        float[] values = actual.topLogprobs();
        assertEquals(k, ids.length, what + ": topIds length");
        assertEquals(k, values.length, what + ": topLogprobs length");
        int[] ranked = ranking(expected);
        boolean ambiguous = false;
        Set<Integer> distinct = new HashSet<>();
        for (int i = 0; i < k; i++) {
            assertTrue(distinct.add(ids[i]), what + ": topIds repeats " + ids[i] + " " + Arrays.toString(ids));
            assertEquals(expected[ranked[i]], values[i], TOLERANCE, what + ": topLogprobs[" + i + "] (rank value)");
            assertEquals(expected[ids[i]], values[i], TOLERANCE,
                    what + ": topLogprobs[" + i + "] against the reference's value of id " + ids[i]);
            if (i > 0) {
                assertTrue(values[i] <= values[i - 1], what + ": topLogprobs descending " + Arrays.toString(values));
            }
            if (expected[ranked[i]] - expected[ranked[i + 1]] <= TOLERANCE) {
                ambiguous = true;
            }
        }
        if (!ambiguous) {
            assertArrayEquals(Arrays.copyOf(ranked, k), ids, what + ": topIds");
        }
    }

    static int[] ids(List<Call> tokens) {
        return tokens.stream().mapToInt(Call::id).toArray();
    }

    // ------------------------------------------------------------------------------------------ logprobs

    @Test
    void greedyLogprobsEqualTheLogSoftmaxOfTheRawLogits() throws Exception {
        int[] prompt = randomPrompt(new Random(21), 13);
        GenerationConfig config = GenerationConfig.greedy().maxTokens(8).ignoreEos(true).logprobs(5);
        Recorder recorder = new Recorder();
        Completion c;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 2))) {
            // Another request beside it: the step's other rows must not leak into this one's logprobs.
            var other = batch.submit(randomPrompt(new Random(22), 30), GenerationConfig.greedy().maxTokens(12));
            c = batch.submit(prompt, config, recorder).get(30, TimeUnit.SECONDS);
            other.get(30, TimeUnit.SECONDS);
        }
        assertEquals(0, recorder.twoArgumentCalls.get(),
                "an overridden 3-argument onToken replaces the 2-argument one");
        List<Call> tokens = recorder.tokens();
        assertEquals(8, c.ids().length);
        assertArrayEquals(c.ids(), ids(tokens), "the listener's ids are the completion's");
        double[][] expected = reference(prompt, c.ids());
        for (int j = 0; j < tokens.size(); j++) {
            Call call = tokens.get(j);
            String what = "token " + j;
            assertMatches(expected[j], call.id(), 5, call.logprobs(), what);
            assertEquals(call.id(), call.logprobs().topIds()[0], what + ": the greedy token is the most likely");
            assertEquals(ranking(expected[j])[0], call.id(), what + ": the greedy token is the reference's argmax");
        }
    }

    @Test
    void sampledLogprobsAreTheRawDistributionWhateverThePenaltiesAndTemperature() throws Exception {
        int[] prompt = randomPrompt(new Random(31), 17);
        List<GenerationConfig> configs = List.of(
                GenerationConfig.sampling().temperature(1.0).topK(0).repetitionPenalty(1.5).seed(5),
                GenerationConfig.sampling().temperature(0.6).topK(3).presencePenalty(0.7).frequencyPenalty(0.4)
                        .repetitionPenalty(1.3).seed(6));
        for (GenerationConfig base : configs) {
            GenerationConfig config = base.maxTokens(10).ignoreEos(true).logprobs(4);
            Recorder recorder = new Recorder();
            Completion c;
            try (BatchSession batch = model.newBatchSession(batchConfig(256, 2))) {
                c = batch.submit(prompt, config, recorder).get(30, TimeUnit.SECONDS);
            }
            // The same draw as without logprobs: recording them changes nothing else.
            try (BloomSession s = model.newSession(TinyModels.session(256))) {
                assertArrayEquals(s.generate(prompt, config.logprobs(-1), null).ids(), c.ids(), "ids vs BloomSession");
            }
            List<Call> tokens = recorder.tokens();
            assertArrayEquals(c.ids(), ids(tokens));
            float[][] logits = referenceLogits(prompt, c.ids());
            double mostPenalized = 0;
            List<Integer> seen = new ArrayList<>(Arrays.stream(prompt).boxed().toList());
            for (int j = 0; j < tokens.size(); j++) {
                Call call = tokens.get(j);
                assertMatches(logSoftmax(logits[j]), call.id(), 4, call.logprobs(), config + " token " + j);
                // What a recorder of the penalized distribution would have reported, to show the test would see it.
                float[] penalized = logits[j].clone();
                for (int id : new HashSet<>(seen)) {
                    penalized[id] = penalized[id] > 0 ? (float) (penalized[id] / config.repetitionPenalty())
                            : (float) (penalized[id] * config.repetitionPenalty());
                }
                mostPenalized = Math.max(mostPenalized,
                        Math.abs(logSoftmax(penalized)[call.id()] - logSoftmax(logits[j])[call.id()]));
                seen.add(call.id());
            }
            assertTrue(mostPenalized > 100 * TOLERANCE, "the penalty moves some token's log-probability by "
                    + mostPenalized + ", so the comparison above tells raw from penalized");
        }
    }

    @Test
    void logprobsZeroGivesTheTokensOwnOnlyAndTheMaximumGivesAHundred() throws Exception {
        int[] prompt = randomPrompt(new Random(41), 9);
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(6).ignoreEos(true);
        Recorder own = new Recorder();
        Recorder hundred = new Recorder();
        Completion a;
        Completion b;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 2))) {
            var fa = batch.submit(prompt, greedy.logprobs(0), own);
            var fb = batch.submit(prompt, greedy.logprobs(GenerationConfig.MAX_LOGPROBS), hundred);
            a = fa.get(30, TimeUnit.SECONDS);
            b = fb.get(30, TimeUnit.SECONDS);
        }
        assertArrayEquals(a.ids(), b.ids());
        double[][] expected = reference(prompt, a.ids());
        for (int j = 0; j < a.ids().length; j++) {
            assertMatches(expected[j], a.ids()[j], 0, own.tokens().get(j).logprobs(), "logprobs(0) token " + j);
            assertMatches(expected[j], b.ids()[j], 100, hundred.tokens().get(j).logprobs(),
                    "logprobs(100) token " + j);
        }
    }

    @Test
    void withoutLogprobsTheListenerReceivesNullAndTheHeldBackTextNeverHasAny() throws Exception {
        int[] prompt = model.tokenize("The quick brown fox jumps over the lazy dog");
        GenerationConfig plain = GenerationConfig.greedy().maxTokens(20).ignoreEos(true);
        String full;
        try (BloomSession s = model.newSession(TinyModels.session(256))) {
            full = s.generate(prompt, plain, null).text();
        }
        assertTrue(full.length() > 6, full);
        // A stop string that never completes: the held-back text arrives last, with token -1.
        GenerationConfig held = plain.stop(full.substring(full.length() - 2) + "\u0001");
        Recorder none = new Recorder();
        Recorder some = new Recorder();
        List<Integer> lambdaIds = Collections.synchronizedList(new ArrayList<>());
        Completion c;
        Completion withLambda;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 3))) {
            var fn = batch.submit(prompt, held, none);
            var fs = batch.submit(prompt, held.logprobs(2), some);
            // A 2-argument lambda still gets every token when logprobs are asked for: the default forwards.
            var fl = batch.submit(prompt, held.logprobs(2), (id, text) -> lambdaIds.add(id));
            c = fn.get(30, TimeUnit.SECONDS);
            fs.get(30, TimeUnit.SECONDS);
            withLambda = fl.get(30, TimeUnit.SECONDS);
        }
        assertEquals(21, none.calls.size(), "20 tokens and the held-back text");
        for (Call call : none.calls) {
            assertNull(call.logprobs(), "logprobs -1: null for token " + call.id());
        }
        assertEquals(none.calls.stream().map(Call::id).toList(), some.calls.stream().map(Call::id).toList());
        Call last = some.calls.get(some.calls.size() - 1);
        assertEquals(-1, last.id());
        assertFalse(last.text().isEmpty(), "held-back text");
        assertNull(last.logprobs(), "the held-back text carries no logprobs");
        some.tokens().forEach(call -> assertNotNull(call.logprobs(), "token " + call.id()));
        assertEquals(none.calls.stream().map(Call::id).toList(), lambdaIds);
        assertArrayEquals(c.ids(), withLambda.ids());
    }

    // ------------------------------------------------------------------------------------------ validation

    @Test
    void logprobsOutsideMinusOneToAHundredAreRejectedNamingTheField() {
        for (int bad : new int[] {-2, 101, Integer.MIN_VALUE}) {
            var e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.greedy().logprobs(bad));
            assertTrue(e.getMessage().startsWith("logprobs") && e.getMessage().contains(String.valueOf(bad)),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.builder().logprobs(bad).build());
            assertTrue(e.getMessage().startsWith("logprobs"), e.getMessage());
        }
        assertEquals(-1, GenerationConfig.greedy().logprobs(), "none by default");
        assertEquals(-1, GenerationConfig.sampling().logprobs(), "none by default");
        for (int good : new int[] {-1, 0, 1, 100}) {
            assertEquals(good, GenerationConfig.greedy().logprobs(good).logprobs());
        }
        assertEquals(GenerationConfig.greedy().logprobs(3), GenerationConfig.builder().logprobs(3).build());
        assertNotEquals(GenerationConfig.greedy().logprobs(3), GenerationConfig.greedy());
    }

    @Test
    void bloomSessionRefusesAConfigAskingForLogprobs() {
        try (BloomSession s = model.newSession(TinyModels.session(64))) {
            int[] prompt = {5, 6, 7};
            for (GenerationConfig config : List.of(GenerationConfig.greedy().logprobs(2),
                    GenerationConfig.greedy().logprobs(0))) {
                List<Supplier<Object>> calls = List.of(
                        () -> s.generate(prompt, config, null),
                        () -> s.generate("Hello", config),
                        () -> s.iterate(prompt, config),
                        () -> s.stream(prompt, config));
                for (Supplier<Object> call : calls) {
                    var e = assertThrows(IllegalArgumentException.class, call::get);
                    assertTrue(e.getMessage().contains("logprobs"), e.getMessage());
                }
            }
            // Still usable afterwards, and -1 is accepted.
            assertEquals(3, s.generate(prompt, GenerationConfig.greedy().maxTokens(3).ignoreEos(true).logprobs(-1),
                    null).ids().length);
        }
    }

    // ------------------------------------------------------------------------------------------ SampleListener

    /** Per-sample accumulation of a SampleListener's calls. */
    static final class SampleRecorder implements BatchSession.SampleListener {
        final List<List<Call>> calls = new ArrayList<>();
        final Set<Thread> threads = Collections.synchronizedSet(new HashSet<>());
        final int stopSample;
        final int stopAfter;

        SampleRecorder(int n, int stopSample, int stopAfter) {
            for (int i = 0; i < n; i++) {
                calls.add(Collections.synchronizedList(new ArrayList<>()));
            }
            this.stopSample = stopSample;
            this.stopAfter = stopAfter;
        }

        @Override
        public boolean onToken(int sample, int tokenId, String text, TokenLogprobs logprobs) {
            threads.add(Thread.currentThread());
            List<Call> mine = calls.get(sample); // an index out of [0, n) fails the request
            mine.add(new Call(tokenId, text, logprobs));
            return !(sample == stopSample && mine.size() == stopAfter);
        }

        String text(int sample) {
            StringBuilder b = new StringBuilder();
            calls.get(sample).forEach(c -> b.append(c.text()));
            return b.toString();
        }

        int[] ids(int sample) {
            return calls.get(sample).stream().filter(c -> c.id() >= 0).mapToInt(Call::id).toArray();
        }
    }

    @Test
    void aSampleListenerSeesEverySamplesTokensUnderItsIndex() throws Exception {
        int[] prompt = randomPrompt(new Random(51), 11);
        // The tiny random model is peaked: a higher temperature and a penalty make the samples differ, so that a
        // listener mixing up sample indices would show.
        GenerationConfig config = GenerationConfig.sampling().temperature(1.5).repetitionPenalty(1.3).seed(7)
                .maxTokens(10).ignoreEos(true).n(3);
        SampleRecorder plain = new SampleRecorder(3, -1, 0);
        SampleRecorder withLogprobs = new SampleRecorder(3, -1, 0);
        List<Completion> a;
        List<Completion> b;
        List<Completion> noListener;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 4))) {
            a = batch.submitSamples(prompt, config, plain).get(30, TimeUnit.SECONDS);
            b = batch.submitSamples(prompt, config.logprobs(3), withLogprobs).get(30, TimeUnit.SECONDS);
            noListener = batch.submitSamples(prompt, config).get(30, TimeUnit.SECONDS);
        }
        assertEquals(3, a.size());
        assertEquals(1, plain.threads.size(), "one scheduler thread: " + plain.threads);
        assertNotEquals(a.get(0).text(), a.get(1).text(), "samples differ (seeds 7 and 8)");
        for (int i = 0; i < 3; i++) {
            String what = "sample " + i;
            assertEquals(a.get(i).text(), plain.text(i), what + ": text from the listener");
            assertArrayEquals(a.get(i).ids(), plain.ids(i), what + ": ids from the listener");
            assertEquals(10, plain.ids(i).length, what);
            plain.calls.get(i).forEach(c -> assertNull(c.logprobs(), what + ": no logprobs asked for"));
            assertArrayEquals(noListener.get(i).ids(), a.get(i).ids(), what + ": a listener changes nothing");
            // With logprobs: the same draws, and each sample's logprobs are its own, checked against the reference.
            assertArrayEquals(a.get(i).ids(), b.get(i).ids(), what + ": logprobs change no draw");
            assertEquals(b.get(i).text(), withLogprobs.text(i), what);
            assertArrayEquals(b.get(i).ids(), withLogprobs.ids(i), what);
            double[][] expected = reference(prompt, b.get(i).ids());
            List<Call> tokens = withLogprobs.calls.get(i).stream().filter(c -> c.id() >= 0).toList();
            for (int j = 0; j < tokens.size(); j++) {
                assertMatches(expected[j], tokens.get(j).id(), 3, tokens.get(j).logprobs(), what + " token " + j);
            }
        }
    }

    @Test
    void eachSampleIsReportedDoneOnceBeforeTheFutureCompletes() throws Exception {
        int[] prompt = randomPrompt(new Random(71), 9);
        GenerationConfig config = GenerationConfig.sampling().temperature(1.5).seed(3).maxTokens(8).n(3);
        List<Integer> doneOrder = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.Map<Integer, Completion> doneCompletions = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.atomic.AtomicReference<CompletableFuture<List<Completion>>> future =
                new java.util.concurrent.atomic.AtomicReference<>();
        List<Boolean> futureDoneAtCall = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<Completion> all;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 4))) {
            CountDownLatch submitted = new CountDownLatch(1);
            future.set(batch.submitSamples(prompt, config, new BatchSession.SampleListener() {
                @Override
                public boolean onToken(int sample, int tokenId, String text, TokenLogprobs logprobs) {
                    try {
                        submitted.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return true;
                }

                @Override
                public void onSampleDone(int sample, Completion completion) {
                    doneOrder.add(sample);
                    doneCompletions.put(sample, completion);
                    futureDoneAtCall.add(future.get().isDone());
                }
            }));
            submitted.countDown();
            all = future.get().get(30, TimeUnit.SECONDS);
        }
        assertEquals(List.of(0, 1, 2), doneOrder.stream().sorted().toList(), "each sample once: " + doneOrder);
        assertEquals(List.of(false, false, false), futureDoneAtCall);
        for (int i = 0; i < 3; i++) {
            assertEquals(all.get(i), doneCompletions.get(i), "sample " + i);
        }
    }

    @Test
    void aSampleListenerReturningFalseEndsThatSampleOnly() throws Exception {
        int[] prompt = randomPrompt(new Random(61), 7);
        GenerationConfig config = GenerationConfig.sampling().temperature(1.5).repetitionPenalty(1.3).seed(7)
                .maxTokens(10).ignoreEos(true).n(3);
        SampleRecorder recorder = new SampleRecorder(3, 1, 3);
        List<Completion> all;
        List<Completion> full;
        try (BatchSession batch = model.newBatchSession(batchConfig(256, 3))) {
            all = batch.submitSamples(prompt, config, recorder).get(30, TimeUnit.SECONDS);
            full = batch.submitSamples(prompt, config).get(30, TimeUnit.SECONDS);
            assertEquals(0, batch.stats().cellsUsed());
        }
        assertEquals(FinishReason.CANCELLED, all.get(1).finishReason());
        assertArrayEquals(Arrays.copyOf(full.get(1).ids(), 3), all.get(1).ids(), "sample 1 stopped at 3 tokens");
        for (int i : new int[] {0, 2}) {
            assertEquals(FinishReason.LENGTH, all.get(i).finishReason(), "sample " + i);
            assertArrayEquals(full.get(i).ids(), all.get(i).ids(), "sample " + i + " went on unchanged");
            assertEquals(full.get(i).text(), recorder.text(i), "sample " + i);
        }
    }
}
