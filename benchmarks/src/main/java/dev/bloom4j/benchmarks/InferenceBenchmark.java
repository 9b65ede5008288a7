package dev.bloom4j.benchmarks;

import dev.bloom4j.BatchSession;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.KvCacheType;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.WeightType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Inference speed through the Java API: prefill (a prompt evaluated into an empty KV cache, logits for its last
 * token) and decode (one token evaluated after {@code context} cached ones), in tokens/s and in achieved GFLOP/s
 * as {@link Flops} counts them.
 * {@snippet :
 * java -jar benchmarks/target/benchmarks.jar InferenceBenchmark -p model=/models/bloom-560m-q8_0.gguf \
 *      -p threads=2 -p promptTokens=128,512,2048 -p context=128,2048 -rf json -rff inference.json
 * java -jar benchmarks/target/benchmarks.jar 'InferenceBenchmark.decode' -p model=/models/bloom-560m-q8_0.gguf \
 *      -p threads=2 -p sequences=1,4,16 -rf json -rff decode-batched.json
 * }
 *
 * <h2>Reading the results</h2>
 * The mode is throughput. JMH reports, per benchmark, the primary score and two secondary ones from
 * {@link Work} (JMH's {@code @AuxCounters}, also as rates per second):
 * <ul>
 *   <li>{@code prefill}: prompts/s; {@code prefill:tokens} prompt tokens/s; {@code prefill:gflop} GFLOP/s.</li>
 *   <li>{@code decode}: tokens/s (one token per call); {@code decode:tokens} the same; {@code decode:gflop}
 *       GFLOP/s; {@code decode:gbyte} GB/s read from memory as {@link Traffic} counts it (weights plus KV cache per
 *       token): the figure to set against the memory bandwidth ({@link DeviceReference} measures what a copy
 *       reaches).</li>
 * </ul>
 * Tokens/s comes from a counter rather than {@code @OperationsPerInvocation} because the prompt length is a
 * parameter and that annotation takes a compile-time constant; a decode call is one token, so its primary score
 * already is tokens/s.
 *
 * <p>What is timed: prefill clears the cache and evaluates the prompt ({@code session.clear()},
 * {@code session.evaluate(prompt)}) — the same as llama-bench's pp test, which empties its cache before each prompt
 * run. Decode truncates the cache back to {@code context} tokens and evaluates one more, so every call runs at
 * exactly that context. Prompts are random ids (see {@link BloomBenchmark#randomTokens}). Sessions use the native
 * default batch size (512): longer prompts are evaluated in chunks of it, as llama.cpp's default micro-batch does.
 * {@code -p batch=2048} evaluates a prompt of up to 2048 tokens as one graph instead (larger matrix products, the
 * usual setting for a GPU's peak prefill).
 *
 * <p>Many sequences ({@code -p sequences=N}, N &gt; 1; decode only): aggregate decode through a {@link BatchSession},
 * as {@code bloom batched-bench} and llama.cpp's llama-batched-bench measure it. Before each call (an
 * invocation-level setup, untimed), N requests with distinct random prompts of {@code context} tokens are queued
 * together and their prompts evaluated in one step; the scheduler is then held (a listener on the last first token
 * waits, listeners running on the scheduler thread). The call releases it and waits for the N requests to finish
 * their {@code steps} decode steps, each evaluating one token of every sequence in one graph, at contexts
 * {@code context} to {@code context + steps - 1}. So one call is N·steps tokens: {@code decode:tokens} is the
 * aggregate tokens/s, the primary score calls/s. {@code decode:gflop} counts every token's FLOPs, and
 * {@code decode:gbyte} reads the weights once per step plus each sequence's KV cache. With {@code sequences=1} the
 * benchmark is the single-session one above (its invocation setup does nothing).
 *
 * <p>This class is compiled by CI but never run there: benchmarks measure, tests check.
 */
public class InferenceBenchmark extends BloomBenchmark {

    /** CPU threads for the sessions ({@code -p threads=N}); 0 = the native default, one per core. */
    @Param("0")
    public int threads;

    /** The prefill's session and prompt. */
    @State(Scope.Thread)
    public static class Prefill {
        /** Prompt length in tokens. */
        @Param({"128", "512"})
        public int promptTokens;

        /** Tokens per graph (the session's batch size); 0 = the native default, 512. */
        @Param("0")
        public int batch;

        BloomSession session;
        int[] prompt;
        double gflopPerCall;

        @Setup(Level.Iteration)
        public void open(InferenceBenchmark benchmark) {
            session = benchmark.openSession(promptTokens, benchmark.threads, batch);
            prompt = benchmark.randomTokens(promptTokens, 512);
            gflopPerCall = Flops.prefill(benchmark.shape(), promptTokens) / 1e9;
        }

        @TearDown(Level.Iteration)
        public void close() {
            session.close();
        }
    }

    /** The decode's session, holding {@code context} tokens; with {@code sequences > 1} a batch session. */
    @State(Scope.Thread)
    public static class Decode {
        /** Tokens in the KV cache before each decoded token (with {@code sequences > 1}: before the first). */
        @Param("128")
        public int context;

        /** Sequences decoded together; above 1 through a {@link BatchSession} (see the class comment). */
        @Param("1")
        public int sequences;

        /** Decode steps per call with {@code sequences > 1}; unused with one sequence. */
        @Param("32")
        public int steps;

        BloomSession session;
        int[] next;
        int call;
        double gflopPerCall;
        double gbytePerCall;

        BatchSession batch;
        List<int[]> prompts;
        GenerationConfig batchConfig;
        CountDownLatch go;
        List<CompletableFuture<Completion>> running;

        @Setup(Level.Iteration)
        public void open(InferenceBenchmark benchmark) {
            if (sequences < 1 || steps < 1) {
                throw new IllegalArgumentException("sequences and steps must be >= 1, got " + sequences + ", "
                        + steps);
            }
            if (sequences > 1) {
                openBatch(benchmark);
                return;
            }
            session = benchmark.openSession(context + 1, benchmark.threads);
            if (context > 0) {
                session.evaluate(benchmark.randomTokens(context, 128));
            }
            // A few ids to cycle through, so consecutive calls do not evaluate the same token.
            next = benchmark.randomTokens(64, 1);
            gflopPerCall = Flops.decode(benchmark.shape(), context) / 1e9;
            int kvBytes = session.kvCacheType() == KvCacheType.F32 ? 4 : 2;
            gbytePerCall = Traffic.decodePerToken(benchmark.model().info().weightBytes(), benchmark.shape(), context,
                    kvBytes) / 1e9;
        }

        private void openBatch(InferenceBenchmark benchmark) {
            int promptTokens = Math.max(context, 1); // a request needs a prompt
            // Each request reserves its prompt and steps + 1 tokens; the gate two cells. All prompts in one graph.
            SessionConfig.Builder config = SessionConfig.builder()
                    .contextSize(sequences * (promptTokens + steps + 1) + 2)
                    .batchSize(Math.max(SessionConfig.defaults().batchSize(), sequences * promptTokens))
                    .threads(benchmark.threads)
                    .maxSequences(sequences);
            batch = benchmark.model().newBatchSession(config.build());
            prompts = new ArrayList<>();
            for (int j = 0; j < sequences; j++) {
                prompts.add(benchmark.randomTokens(promptTokens, 128 + j));
            }
            batchConfig = GenerationConfig.greedy().toBuilder().maxTokens(steps + 1).ignoreEos(true).build();
            // The first token comes from the prompt; decode step k evaluates token k after promptTokens + k - 1.
            // What the KV cache type is (AUTO) is not exposed by BatchSession: f16 unless the weights are f32.
            int kvBytes = benchmark.model().info().weightType() == WeightType.F32 ? 4 : 2;
            long weightBytes = benchmark.model().info().weightBytes();
            gflopPerCall = 0;
            gbytePerCall = 0;
            for (int k = 1; k <= steps; k++) {
                int cached = promptTokens + k - 1;
                gflopPerCall += sequences * (double) Flops.decode(benchmark.shape(), cached) / 1e9;
                gbytePerCall += (weightBytes + sequences * (double) Traffic.kvCachePerToken(benchmark.shape(),
                        cached, kvBytes)) / 1e9;
            }
        }

        /**
         * With {@code sequences > 1}: queues the requests together, lets their prompts be evaluated, and leaves the
         * scheduler held until the call releases it. Nothing with one sequence.
         */
        @Setup(Level.Invocation)
        public void prefill() {
            if (batch == null) {
                return;
            }
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch prefilled = new CountDownLatch(1);
            CountDownLatch go = new CountDownLatch(1);
            int[] firstTokens = {0}; // scheduler thread only
            // The gate: a one-token request whose listener holds the scheduler while the others are queued, so that
            // the next step admits them all and evaluates every prompt in one graph.
            CompletableFuture<Completion> gate = batch.submit(new int[] {prompts.getFirst()[0]},
                    batchConfig.toBuilder().maxTokens(1).build(), (id, text) -> {
                        held.countDown();
                        await(release);
                        return true;
                    });
            gate.whenComplete((c, e) -> held.countDown());
            await(held);
            List<CompletableFuture<Completion>> futures = new ArrayList<>(sequences);
            try {
                for (int[] prompt : prompts) {
                    boolean[] started = {false};
                    CompletableFuture<Completion> f = batch.submit(prompt, batchConfig, (id, text) -> {
                        if (!started[0]) {
                            started[0] = true;
                            if (++firstTokens[0] == sequences) {
                                prefilled.countDown();
                                await(go); // held until the timed call begins
                            }
                        }
                        return true;
                    });
                    f.whenComplete((c, e) -> prefilled.countDown()); // a failure must not leave this thread waiting
                    futures.add(f);
                }
            } finally {
                release.countDown();
            }
            gate.join();
            await(prefilled);
            this.go = go;
            this.running = futures;
        }

        /** The timed part with {@code sequences > 1}: the decode steps of every sequence. */
        void decodeAll() {
            go.countDown();
            for (CompletableFuture<Completion> f : running) {
                f.join();
            }
        }

        @TearDown(Level.Iteration)
        public void close() {
            if (session != null) {
                session.close();
                session = null;
            }
            if (batch != null) {
                if (go != null) {
                    go.countDown();
                }
                batch.close();
                batch = null;
            }
        }

        private static void await(CountDownLatch latch) {
            try {
                latch.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    /**
     * Per-iteration counters JMH reports next to the primary score, divided by the iteration's time: tokens/s and
     * GFLOP/s.
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Work {
        /** Tokens evaluated. */
        public long tokens;
        /** Work done, in GFLOP as {@link Flops} counts it. */
        public double gflop;
        /** Memory read, in GB as {@link Traffic} counts it (decode only). */
        public double gbyte;

        @Setup(Level.Iteration)
        public void reset() {
            tokens = 0;
            gflop = 0;
            gbyte = 0;
        }
    }

    private Flops.Shape shape;

    /** Checks that {@link Flops} knows this model's shape before any figure is derived from it. */
    @Override
    protected void modelLoaded() {
        shape = Flops.Shape.of(model().info());
        long expected = shape.parameterCount();
        long reported = model().info().parameterCount();
        if (expected != reported) {
            // A model with an untied lm_head or another layout: the FLOP count would still be right for BLOOM's
            // matmuls, but say so rather than silently publishing a figure for a shape we did not check.
            System.err.printf("InferenceBenchmark: the model reports %,d parameters, BLOOM's layout with a tied "
                    + "lm_head gives %,d; GFLOP/s assumes BLOOM's layout%n", reported, expected);
        }
    }

    Flops.Shape shape() {
        return shape;
    }

    @Benchmark
    public void prefill(Prefill state, Work work) {
        state.session.clear();
        state.session.evaluate(state.prompt);
        work.tokens += state.prompt.length;
        work.gflop += state.gflopPerCall;
    }

    @Benchmark
    public void decode(Decode state, Work work) {
        if (state.batch != null) {
            state.decodeAll();
            work.tokens += (long) state.sequences * state.steps;
            work.gflop += state.gflopPerCall;
            work.gbyte += state.gbytePerCall;
            return;
        }
        state.session.truncate(state.context);
        state.session.evaluate(new int[] {state.next[state.call++ & 63]});
        work.tokens++;
        work.gflop += state.gflopPerCall;
        work.gbyte += state.gbytePerCall;
    }
}
