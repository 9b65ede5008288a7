package dev.bloom4j.llamacpp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomConverter;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.FileType;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.DataType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Greedy continuations: bloom4j's generate (temperature 0, end-of-sequence ignored) against argmax decoding through
 * llama.cpp's API, one token per decode call in both, so the whole KV-cache path is compared. The ids must be
 * identical. The model has an untied output head, so continuations wander over the vocabulary instead of repeating
 * the prompt's last token (see {@link OracleModels#checkpoint}); each prompt's continuation is checked to contain
 * many distinct ids, or the comparison would prove little.
 *
 * <p>Against matched llama.cpp ({@link LlamaCpp.Mode#MATCHED}) the ids must be identical for every file. Against
 * stock llama.cpp they must be identical too, except that a continuation may part at a near-tie: a step where
 * llama.cpp's preferred token beats bloom4j's by less than the logits bound between the two programs for that
 * weight type (checked on llama.cpp's own logits at that step); after that the continuations are different texts
 * and are not compared further.
 */
@Tag("llamacpp")
class GreedyAgainstLlamaCppTest {
    static final int N = 32;
    static final int[][] PROMPTS = {
            {417, 677, 109},
            {5, 900, 33, 250, 77},
            {999, 998, 997, 4, 8, 15, 16, 23, 42},
            {300},
    };

    @TempDir
    static Path dir;
    static LlamaCpp llama;
    static Path checkpoint;

    @BeforeAll
    static void models() {
        llama = LlamaCpp.fromSystemProperties(dir);
        checkpoint = OracleModels.checkpoint(dir.resolve("hf-f32"), 7, DataType.F32, false);
    }

    /** {@code stockBound}: the logits bound against stock llama.cpp for this weight type (see the logits test). */
    record Case(String name, Path bloomModel, Path llamaModel, double stockBound) {}

    @TestFactory
    List<DynamicTest> greedyIdsMatchLlamaCpp() {
        List<Case> cases = new ArrayList<>();
        if (OracleModels.ggufPyConfigured()) {
            Path f32 = OracleModels.ggufPy(checkpoint, dir.resolve("ggufpy-f32.gguf"), "f32");
            cases.add(new Case("f32, checkpoint dir vs gguf-py GGUF", checkpoint, f32,
                    LogitsAgainstLlamaCppTest.STOCK_BOUND));
        }
        Path ours = dir.resolve("bloom4j-f32.gguf");
        BloomConverter.convert(checkpoint, ours, FileType.F32);
        cases.add(new Case("bloom4j f32 GGUF in both", ours, ours, LogitsAgainstLlamaCppTest.STOCK_BOUND));
        Path q8 = dir.resolve("bloom4j-q8_0.gguf");
        BloomConverter.convert(checkpoint, q8, FileType.Q8_0);
        cases.add(new Case("bloom4j q8_0 GGUF in both", q8, q8, LogitsAgainstLlamaCppTest.STOCK_QUANTIZED_BOUND));
        Path q4 = llama.quantize(ours, dir.resolve("llama-quantize-q4_0.gguf"), "q4_0");
        cases.add(new Case("llama-quantize q4_0 GGUF in both", q4, q4,
                LogitsAgainstLlamaCppTest.STOCK_QUANTIZED_BOUND));

        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases) {
            tests.add(DynamicTest.dynamicTest(c.name(), () -> {
                int distinct = Integer.MAX_VALUE;
                List<String> stockDivergences = new ArrayList<>();
                for (int[] prompt : PROMPTS) {
                    int[] actual = bloomGreedy(c.bloomModel(), prompt, N);
                    int[] matched = llama.greedy(c.llamaModel(), prompt, N, LlamaCpp.Mode.MATCHED);
                    assertArrayEquals(matched, actual, () -> c.name() + ", prompt " + Arrays.toString(prompt)
                            + ", matched llama.cpp " + Arrays.toString(matched) + ", bloom4j "
                            + Arrays.toString(actual));
                    distinct = Math.min(distinct, (int) Arrays.stream(matched).distinct().count());

                    int[] stock = llama.greedy(c.llamaModel(), prompt, N, LlamaCpp.Mode.STOCK);
                    int k = Arrays.mismatch(stock, actual);
                    if (k >= 0) {
                        double gap = nearTieGap(c, prompt, stock, actual, k);
                        stockDivergences.add(String.format("prompt %s from token %d (gap %.1e of the range)",
                                Arrays.toString(prompt), k, gap));
                    }
                }
                System.out.printf("greedy vs llama.cpp [%s]: %d prompts x %d tokens identical to matched llama.cpp; "
                                + "stock llama.cpp identical%s (at least %d distinct ids per continuation)%n", c.name(),
                        PROMPTS.length, N, stockDivergences.isEmpty() ? "" : " except at near-ties: "
                                + String.join("; ", stockDivergences), distinct);
                assertTrue(distinct >= 4, "continuations too repetitive to test anything: " + distinct + " ids");
            }));
        }
        return tests;
    }

    /**
     * Stock llama.cpp may pick another token than bloom4j only where the two candidates are closer than the
     * numerical difference between the programs allows: the gap between their logits at that step, in stock
     * llama.cpp's own logits, relative to the row's range, must be within the stock logits bound.
     */
    private double nearTieGap(Case c, int[] prompt, int[] stock, int[] actual, int k) {
        int[] context = Arrays.copyOf(prompt, prompt.length + k);
        System.arraycopy(stock, 0, context, prompt.length, k);
        float[][] logits = llama.logits(c.llamaModel(), context, LlamaCpp.Mode.STOCK);
        float[] last = logits[logits.length - 1];
        double range = 0;
        for (float v : last) {
            range = Math.max(range, Math.abs(v));
        }
        double gap = (last[stock[k]] - last[actual[k]]) / range;
        assertTrue(gap <= c.stockBound(), () -> c.name() + ", prompt " + Arrays.toString(prompt) + ": stock llama.cpp "
                + Arrays.toString(stock) + ", bloom4j " + Arrays.toString(actual) + " differ at token " + k
                + " where llama.cpp prefers its choice by " + gap + " of the range, more than " + c.stockBound());
        return gap;
    }

    static int[] bloomGreedy(Path model, int[] prompt, int n) {
        SessionConfig config = LlamaCpp.Mode.MATCHED.session().contextSize(128).batchSize(LlamaCpp.MATCHED_BATCH)
                .threads(2).build();
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(n).ignoreEos(true);
        try (BloomModel bloom = LlamaCpp.Mode.MATCHED.load(model); BloomSession session = bloom.newSession(config)) {
            Completion completion = session.generate(prompt, greedy, (id, text) -> true);
            return completion.ids();
        }
    }
}
