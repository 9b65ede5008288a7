package dev.bloom4j.llamacpp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
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
 * many distinct ids, or the comparison would prove little. llama.cpp runs as shipped and with exact GELU
 * ({@link LlamaCpp.Gelu}); the ids must be the same in both.
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

    record Case(String name, Path bloomModel, Path llamaModel) {}

    @TestFactory
    List<DynamicTest> greedyIdsMatchLlamaCpp() {
        List<Case> cases = new ArrayList<>();
        if (OracleModels.ggufPyConfigured()) {
            Path f32 = OracleModels.ggufPy(checkpoint, dir.resolve("ggufpy-f32.gguf"), "f32");
            cases.add(new Case("f32, checkpoint dir vs gguf-py GGUF", checkpoint, f32));
        }
        assertTrue(!cases.isEmpty(), "no model to compare: set -D" + LlamaCpp.SOURCE_PROPERTY);

        List<DynamicTest> tests = new ArrayList<>();
        for (Case c : cases) {
            tests.add(DynamicTest.dynamicTest(c.name(), () -> {
                int distinct = Integer.MAX_VALUE;
                for (int[] prompt : PROMPTS) {
                    int[] actual = bloomGreedy(c.bloomModel(), prompt, N);
                    for (LlamaCpp.Gelu gelu : LlamaCpp.Gelu.values()) {
                        int[] expected = llama.greedy(c.llamaModel(), prompt, N, gelu);
                        assertArrayEquals(expected, actual, () -> c.name() + ", prompt " + Arrays.toString(prompt)
                                + ", " + gelu + " GELU: llama.cpp " + Arrays.toString(expected) + ", bloom4j "
                                + Arrays.toString(actual));
                        distinct = Math.min(distinct, (int) Arrays.stream(expected).distinct().count());
                    }
                }
                System.out.printf("greedy vs llama.cpp [%s]: %d prompts x %d tokens identical, with llama.cpp's "
                        + "GELU and with exact GELU (at least %d distinct ids per continuation)%n", c.name(),
                        PROMPTS.length, N, distinct);
                assertTrue(distinct >= 4, "continuations too repetitive to test anything: " + distinct + " ids");
            }));
        }
        return tests;
    }

    static int[] bloomGreedy(Path model, int[] prompt, int n) {
        SessionConfig config = SessionConfig.builder().contextSize(128).batchSize(32).threads(2).build();
        GenerationConfig greedy = GenerationConfig.greedy().maxTokens(n).ignoreEos(true);
        try (BloomModel bloom = BloomModel.load(model); BloomSession session = bloom.newSession(config)) {
            Completion completion = session.generate(prompt, greedy, (id, text) -> true);
            return completion.ids();
        }
    }
}
