package dev.bloom4j.benchmarks;

import dev.bloom4j.BloomSession;
import dev.bloom4j.KvCacheType;
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

    /** The decode's session, holding {@code context} tokens. */
    @State(Scope.Thread)
    public static class Decode {
        /** Tokens in the KV cache before each decoded token. */
        @Param("128")
        public int context;

        BloomSession session;
        int[] next;
        int call;
        double gflopPerCall;
        double gbytePerCall;

        @Setup(Level.Iteration)
        public void open(InferenceBenchmark benchmark) {
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

        @TearDown(Level.Iteration)
        public void close() {
            session.close();
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
        state.session.truncate(state.context);
        state.session.evaluate(new int[] {state.next[state.call++ & 63]});
        work.tokens++;
        work.gflop += state.gflopPerCall;
        work.gbyte += state.gbytePerCall;
    }
}
