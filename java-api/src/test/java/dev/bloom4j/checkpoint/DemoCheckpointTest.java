package dev.bloom4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.reference.ReferenceBloom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The cached demo model. Needs the bundled tokenizer on the test class path; skipped (not failed) without it, since
 * it is produced by the native test-data build.
 */
class DemoCheckpointTest {

    @TempDir
    Path cache;

    @BeforeEach
    void requireBundledTokenizer() {
        assumeTrue(DemoCheckpoint.class.getResource(RandomCheckpoint.BUNDLED_TOKENIZER_RESOURCE) != null,
                "bundled tokenizer resource missing from the class path");
    }

    @Test
    void createdOnceAndMarked() throws IOException {
        Path model = DemoCheckpoint.ensure(cache);
        assertEquals(cache.resolve(DemoCheckpoint.DIRECTORY_NAME), model);
        assertTrue(DemoCheckpoint.isDemo(model));
        JsonNode config = new ObjectMapper().readTree(model.resolve("config.json").toFile());
        assertTrue(config.get(DemoCheckpoint.MARKER_KEY).asBoolean());
        assertEquals(DemoCheckpoint.LABEL, config.get("bloom4j_note").asText());
        assertArrayEquals(RandomCheckpoint.readBundledTokenizer(), Files.readAllBytes(model.resolve("tokenizer.json")));

        FileTime written = Files.getLastModifiedTime(model.resolve("model.safetensors"));
        Files.setLastModifiedTime(model.resolve("model.safetensors"), FileTime.fromMillis(1_000_000L));
        assertEquals(model, DemoCheckpoint.ensure(cache));
        assertEquals(FileTime.fromMillis(1_000_000L), Files.getLastModifiedTime(model.resolve("model.safetensors")),
                "second call reuses the cached model (was written at " + written + ")");
        assertEquals(List.of(DemoCheckpoint.DIRECTORY_NAME), listNames(cache), "no temporary directories left");
    }

    @Test
    void concurrentCallsAgree() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                results.add(pool.submit(() -> DemoCheckpoint.ensure(cache)));
            }
            for (Future<Path> result : results) {
                assertEquals(cache.resolve(DemoCheckpoint.DIRECTORY_NAME), result.get());
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(DemoCheckpoint.DIRECTORY_NAME), listNames(cache));
        assertTrue(DemoCheckpoint.isDemo(cache.resolve(DemoCheckpoint.DIRECTORY_NAME)));
    }

    @Test
    void demoRunsInTheReference() throws IOException {
        ReferenceBloom reference = ReferenceBloom.load(DemoCheckpoint.ensure(cache));
        assertEquals(1024, reference.vocabSize());
        double[] logits = reference.lastLogits(new int[] {1, 200, 300, 999});
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double logit : logits) {
            assertTrue(Double.isFinite(logit));
            min = Math.min(min, logit);
            max = Math.max(max, logit);
        }
        // Random but not degenerate: a sampler has something to choose between.
        assertTrue(max - min > 1 && max - min < 100, "logit range " + min + " .. " + max);
    }

    @Test
    void bundledTokenizerFitsTheDemoVocabulary() throws IOException {
        JsonNode tokenizer = new ObjectMapper().readTree(RandomCheckpoint.readBundledTokenizer());
        Map<String, Integer> ids = new HashMap<>();
        tokenizer.path("model").path("vocab").properties().forEach(e -> ids.put(e.getKey(), e.getValue().asInt()));
        tokenizer.path("added_tokens").forEach(t -> ids.put(t.path("content").asText(), t.path("id").asInt()));
        int maxId = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        assertTrue(maxId >= 0 && maxId < DemoCheckpoint.CONFIG.vocabSize(),
                "tokenizer ids up to " + maxId + " must fit vocabulary " + DemoCheckpoint.CONFIG.vocabSize());
        assertEquals(DemoCheckpoint.CONFIG.unkTokenId(), ids.get("<unk>"), "<unk>");
        assertEquals(DemoCheckpoint.CONFIG.bosTokenId(), ids.get("<s>"), "<s>");
        assertEquals(DemoCheckpoint.CONFIG.eosTokenId(), ids.get("</s>"), "</s>");
        assertEquals(DemoCheckpoint.CONFIG.padTokenId(), ids.get("<pad>"), "<pad>");
    }

    @Test
    void ordinaryDirectoryIsNotDemo() throws IOException {
        Path dir = RandomCheckpoint.builder(BloomConfig.of(16, 8, 1, 2)).noTokenizer().build()
                .writeTo(cache.resolve("plain"));
        assertFalse(DemoCheckpoint.isDemo(dir));
        assertFalse(DemoCheckpoint.isDemo(cache.resolve("absent")));
    }

    private static List<String> listNames(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
