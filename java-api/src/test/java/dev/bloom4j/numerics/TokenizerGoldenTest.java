package dev.bloom4j.numerics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokenization through the Java API against golden ids produced by Hugging Face's own tokenizers library
 * (ci/tokenizer-oracle, re-checked in CI by ci/check-tokenizer-oracle.sh) for a BLOOM-format tokenizer.json:
 * multilingual text, emoji, whitespace runs, punctuation and special tokens.
 */
class TokenizerGoldenTest {
    static final Path DATA = Path.of("..", "native", "tests", "data");

    @TempDir
    static Path dir;
    static BloomModel model;

    @BeforeAll
    static void load() throws Exception {
        model = BloomModel.load(RandomCheckpoint.builder(BloomConfig.of(1024, 16, 1, 2)).seed(1).dataType(DataType.F32)
                .tokenizer(DATA.resolve("bloom-tiny-tokenizer.json")).build().writeTo(dir.resolve("model")));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @TestFactory
    List<DynamicTest> matchesHuggingFaceTokenizers() throws Exception {
        JsonNode golden = new ObjectMapper().readTree(DATA.resolve("tokenizer-golden.json").toFile());
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : golden.get("cases")) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> {
                String text = c.get("text").asText();
                int[] expected = ints(c.get("ids"));
                assertArrayEquals(expected, model.tokenize(text), "ids of " + c.get("name"));
                List<String> tokens = new ArrayList<>();
                c.get("tokens").forEach(t -> tokens.add(t.asText()));
                assertEquals(tokens, model.tokenStrings(expected), "token strings");
                assertEquals(c.get("decoded").asText(), model.decode(expected, false), "decode");
                assertEquals(c.get("decoded_skip_special").asText(), model.decode(expected, true), "decode, skipping specials");
            }));
        }
        assertTrue(tests.size() >= 20, "the golden file has " + tests.size() + " cases");
        return tests;
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
