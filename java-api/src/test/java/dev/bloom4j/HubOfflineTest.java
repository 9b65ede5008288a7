package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Offline resolution against a cache built here by hand, file by file, the way huggingface_hub lays one out (no
 * bloom4j code writes it), with an endpoint nothing listens on: any connection attempt would fail the test.
 */
class HubOfflineTest {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String OLD_COMMIT = "fedcba9876543210fedcba9876543210fedcba98";

    @TempDir
    Path temp;
    Path cache;
    Path checkpoint;
    HubModels offline;

    @BeforeEach
    void handBuiltCache() throws IOException {
        checkpoint = TinyModels.random(temp.resolve("tiny"), 7, DataType.F32);
        cache = temp.resolve("hub");
        Path repo = cache.resolve("models--bigscience--bloom-tiny");
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), COMMIT);
        for (String commit : List.of(COMMIT, OLD_COMMIT)) {
            Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve(commit));
            for (String file : List.of("config.json", "tokenizer.json", "model.safetensors")) {
                byte[] bytes = Files.readAllBytes(checkpoint.resolve(file));
                String etag = file.endsWith(".safetensors") ? FakeHub.sha256(bytes) : FakeHub.gitBlobHash(bytes);
                Path blob = repo.resolve("blobs").resolve(etag);
                Files.createDirectories(blob.getParent());
                Files.write(blob, bytes);
                Files.createSymbolicLink(snapshot.resolve(file), Path.of("../../blobs", etag));
            }
        }
        offline = HubModels.of(new HubConfig(cache, URI.create("http://127.0.0.1:9"), null, true));
    }

    @Test
    void resolvesFromRefsAndSnapshots() {
        Path dir = offline.resolve("bigscience/bloom-tiny");
        assertEquals(cache.resolve("models--bigscience--bloom-tiny/snapshots/" + COMMIT), dir);
        try (BloomModel model = BloomModel.load(dir)) {
            assertEquals(2, model.info().layerCount());
        }
        assertEquals(OLD_COMMIT, offline.resolve("bigscience/bloom-tiny@" + OLD_COMMIT).getFileName().toString());
        assertEquals(dir, offline.download(HubName.parse("bigscience/bloom-tiny"), null, true));
    }

    @Test
    void missingRevisionNamesWhatIsMissing() {
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class,
                () -> offline.resolve("bigscience/bloom-tiny@v2"));
        assertTrue(e.getMessage().contains("holds no revision 'v2' of bigscience/bloom-tiny"), e.getMessage());
        assertTrue(e.getMessage().contains("refs/v2"), e.getMessage());
        assertTrue(e.getMessage().contains("HF_HUB_OFFLINE is set"), e.getMessage());
        assertTrue(e.getMessage().contains("bloom download bigscience/bloom-tiny@v2"), e.getMessage());

        ModelNotFoundException repo = assertThrows(ModelNotFoundException.class,
                () -> offline.resolve("bigscience/bloom-other"));
        assertTrue(repo.getMessage().contains("holds no revision 'main' of bigscience/bloom-other"), repo.getMessage());
        // A mistyped relative path reads as a hub name; the error says it is no local path either.
        assertTrue(repo.getMessage().contains("no file or directory " + Path.of("bigscience/bloom-other")
                .toAbsolutePath()), repo.getMessage());
    }

    @Test
    void missingFileOrBlobIsNamed() throws IOException {
        Path snapshot = cache.resolve("models--bigscience--bloom-tiny/snapshots/" + COMMIT);
        Files.delete(snapshot.resolve("tokenizer.json"));
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class,
                () -> offline.resolve("bigscience/bloom-tiny"));
        assertTrue(e.getMessage().contains("no tokenizer.json in bigscience/bloom-tiny in the cache"), e.getMessage());

        // A link whose blob is gone is a missing file too.
        Files.delete(snapshot.resolve("model.safetensors").toRealPath());
        ModelNotFoundException old = assertThrows(ModelNotFoundException.class,
                () -> offline.resolve("bigscience/bloom-tiny@" + OLD_COMMIT));
        assertTrue(old.getMessage().contains("no BLOOM checkpoint in bigscience/bloom-tiny in the cache"),
                old.getMessage());
    }

    @Test
    void verifyOfflineReportsACorruptBlob() throws IOException {
        Path snapshot = cache.resolve("models--bigscience--bloom-tiny/snapshots/" + COMMIT);
        Files.writeString(snapshot.resolve("config.json").toRealPath(), "{\"changed\": true}");
        ModelDownloadException e = assertThrows(ModelDownloadException.class,
                () -> offline.download(HubName.parse("bigscience/bloom-tiny"), null, true));
        assertTrue(e.getMessage().contains("cached config.json") && e.getMessage().contains("checksum"),
                e.getMessage());
    }

    @Test
    void environmentTurnsOfflineOn() {
        for (String value : List.of("1", "true", "YES", "on")) {
            HubConfig config = HubConfig.fromEnvironment(Map.of("HF_HUB_CACHE", cache.toString(),
                    "HF_HUB_OFFLINE", value, "HF_ENDPOINT", "http://127.0.0.1:9"));
            assertTrue(config.offline(), value);
            assertEquals(COMMIT, HubModels.of(config).resolve("bigscience/bloom-tiny").getFileName().toString());
        }
        assertTrue(HubConfig.fromEnvironment(Map.of("TRANSFORMERS_OFFLINE", "1")).offline());
        assertEquals(false, HubConfig.fromEnvironment(Map.of("HF_HUB_OFFLINE", "0")).offline());
    }

    @Test
    void cachedListsHandBuiltSnapshots() throws IOException {
        List<CachedModel> cached = offline.cached();
        assertEquals(2, cached.size());
        CachedModel main = cached.stream().filter(m -> m.commit().equals(COMMIT)).findFirst().orElseThrow();
        assertEquals(List.of("main"), main.refs());
        assertEquals("bigscience/bloom-tiny", main.name());
        CachedModel old = cached.stream().filter(m -> m.commit().equals(OLD_COMMIT)).findFirst().orElseThrow();
        assertEquals(List.of(), old.refs());
        assertEquals("bigscience/bloom-tiny@" + OLD_COMMIT, old.name());
        long size = 0;
        for (String f : List.of("config.json", "tokenizer.json", "model.safetensors")) {
            size += Files.size(checkpoint.resolve(f));
        }
        assertEquals(size, main.sizeBytes());
        assertEquals("safetensors", main.format());
    }
}
