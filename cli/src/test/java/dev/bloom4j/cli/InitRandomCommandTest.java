package dev.bloom4j.cli;

import static dev.bloom4j.cli.MainTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.WeightType;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bloom init-random}: it writes labelled random-weight models the other commands run. */
class InitRandomCommandTest {

    @TempDir
    static Path temp;

    /** A small config.json in the current key spelling. */
    static final String TINY_CONFIG = """
            {
              "architectures": ["BloomForCausalLM"],
              "model_type": "bloom",
              "vocab_size": 1536,
              "hidden_size": 96,
              "n_layer": 3,
              "n_head": 6,
              "layer_norm_epsilon": 1e-5,
              "bos_token_id": 1,
              "eos_token_id": 2
            }
            """;

    @Test
    void initRandomWritesALabelledLoadableCheckpoint() throws Exception {
        Path config = Files.writeString(temp.resolve("config.json"), TINY_CONFIG);
        Path out = temp.resolve("random");
        MainTest.Result r = run("init-random", "--config", config.toString(), "--out", out.toString(), "--seed", "3",
                "--dtype", "bf16");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("RANDOM weights (seed 3, bf16)"), r.out());
        assertTrue(r.out().contains("3 layers, hidden 96, 6 heads, vocabulary 1536"), r.out());
        assertTrue(r.out().contains("tokenizer: a toy"), r.out());
        assertTrue(Files.readString(out.resolve("README.md")).contains("Random weights: not a trained model"));
        JsonNode json = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertTrue(json.get(RandomCheckpoint.RANDOM_WEIGHTS_KEY).booleanValue());
        assertEquals("bfloat16", json.get("torch_dtype").asText());

        try (BloomModel m = BloomModel.load(out)) {
            assertEquals(1536, m.info().vocabularySize());
            assertEquals(96, m.info().embeddingSize());
            assertEquals(3, m.info().layerCount());
            assertEquals(6, m.info().headCount());
            assertEquals(WeightType.BF16, m.info().weightType());
            assertEquals(BloomConfig.of(1536, 96, 3, 6).parameterCount(), m.info().parameterCount());
            try (BloomSession s = m.newSession(SessionConfig.builder().contextSize(16).threads(1).build())) {
                s.evaluate(m.tokenize("Hello world"));
                for (float v : s.logits()) {
                    assertTrue(Float.isFinite(v));
                }
            }
        }
        // The weights are those of the API's random checkpoint with the same seed and shape.
        Path api = RandomCheckpoint.builder(BloomConfig.of(1536, 96, 3, 6)).seed(3)
                .dataType(dev.bloom4j.checkpoint.DataType.BF16).build().writeTo(temp.resolve("api"));
        assertArrayEquals(Files.readAllBytes(api.resolve("model.safetensors")),
                Files.readAllBytes(out.resolve("model.safetensors")));

        MainTest.Result generate = run("generate", "--model", out.toString(), "--prompt", "Hi", "--max-tokens", "2",
                "--json");
        assertEquals(0, generate.status(), generate.err());
        assertTrue(generate.err().contains(ModelOptions.RANDOM_NOTICE), "labelled as random: " + generate.err());
    }

    @Test
    void layersKeepsTheFirstBlocksOfTheShape() throws Exception {
        Path config = Files.writeString(temp.resolve("layers.json"), TINY_CONFIG);
        Path out = temp.resolve("one-layer");
        MainTest.Result r = run("init-random", "--config", config.toString(), "--layers", "1", "--out",
                out.toString(), "--seed", "3", "--dtype", "bf16");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("(1 of its 3 layers): 1 layers, hidden 96, 6 heads"), r.out());
        assertTrue(Files.readString(out.resolve("README.md")).contains("--layers 1"));
        try (BloomModel m = BloomModel.load(out)) {
            assertEquals(1, m.info().layerCount());
            assertEquals(96, m.info().embeddingSize());
            assertEquals(BloomConfig.of(1536, 96, 1, 6).parameterCount(), m.info().parameterCount());
        }

        for (String bad : new String[] {"0", "4"}) {
            MainTest.Result refused = run("init-random", "--config", config.toString(), "--layers", bad, "--out",
                    temp.resolve("layers-" + bad).toString());
            assertEquals(2, refused.status());
            assertTrue(refused.err().contains("--layers " + bad + ": ") && refused.err().contains("has 3 layers"),
                    refused.err());
            assertTrue(Files.notExists(temp.resolve("layers-" + bad)), "nothing written for --layers " + bad);
        }
    }

    @Test
    void aModelNameIsNeverReadAsAPath() throws Exception {
        // A file named like a released model, in the working directory: the name still means the model. Too big to
        // write here, so --layers 0 stops it right after the shape is resolved, naming the 176B model's layer count.
        Path cwdFile = Path.of("bloom-176b");
        boolean created = Files.notExists(cwdFile);
        try {
            if (created) {
                Files.writeString(cwdFile, "#!/bin/sh\n");
            }
            MainTest.Result r = run("init-random", "--config", "bloom-176b", "--layers", "0", "--out",
                    temp.resolve("never").toString());
            assertEquals(2, r.status());
            assertTrue(r.err().contains("bloom-176b has 70 layers"), r.err());
        } finally {
            if (created) {
                Files.deleteIfExists(cwdFile);
            }
        }
    }

    @Test
    void initRandomErrors() throws Exception {
        MainTest.Result unknown = run("init-random", "--config", "bloom-9b", "--out", temp.resolve("u").toString());
        assertEquals(2, unknown.status());
        assertTrue(unknown.err().contains("bloom-9b") && unknown.err().contains("bloom-560m")
                && unknown.err().contains("bloom-7b1"), unknown.err());

        Path incomplete = Files.writeString(temp.resolve("incomplete.json"),
                "{\"vocab_size\": 2048, \"hidden_size\": 64, \"n_head\": 4}");
        MainTest.Result missingKey = run("init-random", "--config", incomplete.toString(), "--out",
                temp.resolve("i").toString());
        assertEquals(2, missingKey.status());
        assertTrue(missingKey.err().contains("n_layer"), missingKey.err());

        Path small = Files.writeString(temp.resolve("small.json"),
                "{\"vocab_size\": 500, \"n_embed\": 64, \"n_layer\": 1, \"num_attention_heads\": 4}");
        MainTest.Result smallVocab = run("init-random", "--config", small.toString(), "--out",
                temp.resolve("s").toString());
        assertEquals(2, smallVocab.status());
        assertTrue(smallVocab.err().contains("vocab_size 500") && smallVocab.err().contains("1000"),
                smallVocab.err());

        Path busy = Files.createDirectories(temp.resolve("busy"));
        Files.writeString(busy.resolve("file"), "x");
        Path config = Files.writeString(temp.resolve("ok.json"), TINY_CONFIG);
        MainTest.Result notEmpty = run("init-random", "--config", config.toString(), "--out", busy.toString());
        assertEquals(2, notEmpty.status());
        assertTrue(notEmpty.err().contains("not empty"), notEmpty.err());

        MainTest.Result badDtype = run("init-random", "--config", config.toString(), "--out",
                temp.resolve("d").toString(), "--dtype", "q8_0");
        assertEquals(2, badDtype.status());
        assertTrue(badDtype.err().contains("f32, f16 or bf16"), badDtype.err());
    }
}
