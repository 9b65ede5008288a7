package dev.bloom4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Names, shapes, determinism and file layout of random checkpoints. */
class RandomCheckpointTest {

    private static final BloomConfig CONFIG = BloomConfig.of(50, 16, 2, 4);

    @TempDir
    Path temp;

    @Test
    void namesAndShapesFollowHuggingFace() {
        RandomCheckpoint checkpoint = RandomCheckpoint.builder(CONFIG).tiedLmHead(false).noTokenizer().build();
        List<String> names = checkpoint.tensorNames();
        assertEquals(3 + 12 * 2 + 2 + 1, names.size());
        assertEquals(RandomCheckpoint.canonicalTensorNames(2, false), names);
        assertArrayEquals(new int[] {50, 16}, checkpoint.shape("word_embeddings.weight"));
        assertArrayEquals(new int[] {48, 16}, checkpoint.shape("h.1.self_attention.query_key_value.weight"));
        assertArrayEquals(new int[] {48}, checkpoint.shape("h.1.self_attention.query_key_value.bias"));
        assertArrayEquals(new int[] {16, 16}, checkpoint.shape("h.0.self_attention.dense.weight"));
        assertArrayEquals(new int[] {64, 16}, checkpoint.shape("h.0.mlp.dense_h_to_4h.weight"));
        assertArrayEquals(new int[] {16, 64}, checkpoint.shape("h.0.mlp.dense_4h_to_h.weight"));
        assertArrayEquals(new int[] {16}, checkpoint.shape("ln_f.bias"));
        assertArrayEquals(new int[] {50, 16}, checkpoint.shape("lm_head.weight"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> checkpoint.weight("transformer.ln_f.bias"));
        assertTrue(e.getMessage().contains("without the \"transformer.\" prefix"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RandomCheckpoint.builder(CONFIG).build()
                .weight("lm_head.weight"));
        assertTrue(e.getMessage().contains("no tensor named lm_head.weight"), e.getMessage());
    }

    @Test
    void sameSeedSameWeightsWhateverTheLayout() {
        RandomCheckpoint plain = RandomCheckpoint.builder(CONFIG).seed(9).build();
        RandomCheckpoint other = RandomCheckpoint.builder(CONFIG).seed(9).transformerPrefix(true).shards(4)
                .tiedLmHead(false).keyStyle(BloomConfig.KeyStyle.CURRENT).build();
        for (String name : plain.tensorNames()) {
            assertArrayEquals(plain.weight(name), other.weight(name), 0, name);
        }
        RandomCheckpoint reseeded = RandomCheckpoint.builder(CONFIG).seed(10).build();
        assertFalse(Arrays.equals(plain.weight("ln_f.weight"), reseeded.weight("ln_f.weight")));
    }

    @Test
    void storedValuesAreRoundedToTheStorageType() {
        RandomCheckpoint f32 = RandomCheckpoint.builder(CONFIG).seed(3).build();
        for (DataType type : List.of(DataType.F16, DataType.BF16)) {
            RandomCheckpoint rounded = RandomCheckpoint.builder(CONFIG).seed(3).dataType(type).build();
            float[] exact = f32.weight("h.0.mlp.dense_h_to_4h.weight");
            float[] stored = rounded.weight("h.0.mlp.dense_h_to_4h.weight");
            int changed = 0;
            for (int i = 0; i < exact.length; i++) {
                assertEquals(type.round(exact[i]), stored[i], 0, type + " element " + i);
                if (exact[i] != stored[i]) {
                    changed++;
                }
            }
            assertTrue(changed > exact.length / 2, type + " rounding changed only " + changed + " values");
        }
    }

    @Test
    void weightStatisticsAreAsDocumented() {
        BloomConfig wide = BloomConfig.of(64, 256, 1, 8);
        RandomCheckpoint checkpoint = RandomCheckpoint.builder(wide).seed(5).build();
        assertStats(checkpoint.weight("h.0.self_attention.query_key_value.weight"), 0, 1 / 16.0);
        assertStats(checkpoint.weight("h.0.mlp.dense_4h_to_h.weight"), 0, 0.5 / 32);
        assertStats(checkpoint.weight("h.0.input_layernorm.weight"), 1, 0.1);
        assertStats(checkpoint.weight("h.0.mlp.dense_h_to_4h.bias"), 0, 0.05);
        assertStats(checkpoint.weight("word_embeddings.weight"), 0, 2 / 16.0);
    }

    private static void assertStats(float[] values, double mean, double stddev) {
        double sum = 0;
        double squares = 0;
        for (float value : values) {
            sum += value;
            squares += (value - mean) * (value - mean);
        }
        double actualMean = sum / values.length;
        double actualStddev = Math.sqrt(squares / values.length);
        // Sampling error of the mean is stddev/sqrt(n); allow 5 of those, and 10% on the spread.
        assertEquals(mean, actualMean, 5 * stddev / Math.sqrt(values.length), "mean");
        assertEquals(stddev, actualStddev, 0.1 * stddev, "stddev");
    }

    @Test
    void writesPrefixedShardedDirectoryWithTokenizer() throws IOException {
        String tokenizer = ByteLevelTokenizerJson.json();
        RandomCheckpoint checkpoint = RandomCheckpoint.builder(CONFIG).transformerPrefix(true).tiedLmHead(false)
                .shards(3).dataType(DataType.F16).tokenizerJson(tokenizer).build();
        Path dir = checkpoint.writeTo(temp.resolve("model"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                            "model-00003-of-00003.safetensors", "model.safetensors.index.json", "tokenizer.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(tokenizer, Files.readString(dir.resolve("tokenizer.json")));
        JsonNode index = new ObjectMapper().readTree(dir.resolve("model.safetensors.index.json").toFile());
        List<String> stored = new ArrayList<>();
        index.get("weight_map").fieldNames().forEachRemaining(stored::add);
        assertTrue(stored.contains("transformer.word_embeddings.weight"), stored.toString());
        assertTrue(stored.contains("transformer.h.1.mlp.dense_4h_to_h.bias"), stored.toString());
        assertTrue(stored.contains("lm_head.weight"), "the head is never prefixed: " + stored);
        assertEquals(checkpoint.tensorNames().size(), stored.size());
        long elements = 0;
        for (String name : checkpoint.tensorNames()) {
            elements += checkpoint.weight(name).length;
        }
        assertEquals(elements * 2, index.get("metadata").get("total_size").asLong());
        assertEquals("float16", new ObjectMapper().readTree(dir.resolve("config.json").toFile())
                .get("torch_dtype").asText());
    }

    @Test
    void singleFileHasUnprefixedNamesAndNoIndex() throws IOException {
        Path tokenizer = temp.resolve("tok.json");
        Files.writeString(tokenizer, ByteLevelTokenizerJson.json());
        Path dir = RandomCheckpoint.builder(CONFIG).tokenizer(tokenizer).build().writeTo(temp.resolve("m"));
        assertFalse(Files.exists(dir.resolve(SafetensorsWriter.INDEX_FILE_NAME)));
        byte[] bytes = Files.readAllBytes(dir.resolve("model.safetensors"));
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        JsonNode header = new ObjectMapper().readTree(bytes, 8, (int) headerLength);
        assertTrue(header.has("h.0.self_attention.query_key_value.weight"));
        assertFalse(header.has("lm_head.weight"));
        assertEquals(RandomCheckpoint.canonicalTensorNames(2, true).size() + 1, header.size(), "tensors + metadata");
        assertArrayEquals(Files.readAllBytes(tokenizer), Files.readAllBytes(dir.resolve("tokenizer.json")));
    }

    @Test
    void refusesNonEmptyTargetAndImpossibleSharding() throws IOException {
        Files.writeString(temp.resolve("stale.safetensors"), "x");
        RandomCheckpoint checkpoint = RandomCheckpoint.builder(CONFIG).noTokenizer().build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> checkpoint.writeTo(temp));
        assertTrue(e.getMessage().contains("is not empty"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> RandomCheckpoint.builder(CONFIG).shards(100).build());
        assertTrue(e.getMessage().contains("shards 100 exceeds the model's 29 tensors"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RandomCheckpoint.builder(CONFIG).shards(0));
        assertTrue(e.getMessage().contains("shards must be at least 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> RandomCheckpoint.builder(CONFIG).tokenizer(temp.resolve("absent.json")));
        assertTrue(e.getMessage().contains("absent.json"), e.getMessage());
    }
}
