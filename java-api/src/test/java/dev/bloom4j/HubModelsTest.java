package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HubModels} against {@link FakeHub} on loopback: the cache it writes is the layout huggingface_hub writes
 * (checked file by file, hashes recomputed here), downloads resume, corruption is caught, errors say what to do.
 */
class HubModelsTest {

    static final String REPO = "bloom4j-test/tiny";
    static final String GGUF_REPO = "bloom4j-test/tiny-GGUF";

    @TempDir
    static Path fixtures;
    static Path checkpoint;
    static Path ggufs;

    @TempDir
    Path cache;
    FakeHub hub;
    HubModels models;

    @BeforeAll
    static void writeFixtures() throws IOException {
        checkpoint = TinyModels.random(fixtures.resolve("tiny"), 11, DataType.F32);
        Files.writeString(checkpoint.resolve("README.md"), "# tiny\n");
        Files.writeString(checkpoint.resolve("pytorch_model.bin"), "not fetched");
        ggufs = Files.createDirectories(fixtures.resolve("gguf"));
        BloomConverter.convert(checkpoint, ggufs.resolve("tiny-Q8_0.gguf"), FileType.Q8_0);
        BloomConverter.convert(checkpoint, ggufs.resolve("tiny-F16.gguf"), FileType.F16);
        Files.writeString(ggufs.resolve("README.md"), "# tiny GGUF\n");
    }

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub();
        models = HubModels.of(config());
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    HubConfig config() {
        return new HubConfig(cache, hub.endpoint(), null, false);
    }

    @Test
    void checkpointIsCachedInTheHubLayout() throws IOException {
        String commit = hub.publish(REPO, checkpoint);
        Path dir = models.resolve(REPO);

        Path repo = cache.resolve("models--bloom4j-test--tiny");
        assertEquals(repo.resolve("snapshots").resolve(commit), dir);
        assertEquals(commit, Files.readString(repo.resolve("refs/main")), "refs/main: the commit, no newline");
        List<String> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.map(p -> p.getFileName().toString()).sorted().toList();
        }
        // Only what bloom4j needs: no README, no pytorch_model.bin.
        assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json"), files);
        for (String file : files) {
            Path link = dir.resolve(file);
            byte[] bytes = Files.readAllBytes(checkpoint.resolve(file));
            String etag = FakeHub.isLfs(file) ? FakeHub.sha256(bytes) : FakeHub.gitBlobHash(bytes);
            assertTrue(Files.isSymbolicLink(link), file + " is a link");
            assertEquals(Path.of("../../blobs/" + etag), Files.readSymbolicLink(link), file + " links relatively");
            assertEquals(repo.resolve("blobs").resolve(etag).toRealPath(), link.toRealPath());
            assertTrue(java.util.Arrays.equals(bytes, Files.readAllBytes(link)), file + " contents");
        }
        assertTrue(Files.isRegularFile(cache.resolve(".locks/models--bloom4j-test--tiny")
                .resolve(FakeHub.sha256(Files.readAllBytes(checkpoint.resolve("model.safetensors"))) + ".lock")));
        try (Stream<Path> blobs = Files.list(repo.resolve("blobs"))) {
            assertTrue(blobs.noneMatch(p -> p.toString().endsWith(".incomplete")), "no partial file left");
        }
        try (BloomModel model = BloomModel.load(dir)) {
            assertEquals(2, model.info().layerCount());
        }

        // The second time, the commit is asked for and nothing is fetched.
        int before = hub.requests.size();
        assertEquals(dir, models.resolve(REPO));
        assertEquals(List.of("/api/models/" + REPO + "/revision/main"),
                hub.requests.subList(before, hub.requests.size()).stream().map(FakeHub.Request::path).toList());
    }

    @Test
    void gitBlobHashIsGits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assertEquals("ce013625030ba8dba906f756967f9e9ca394464a",
                FakeHub.gitBlobHash("hello\n".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void shardedCheckpointFetchesItsShards() throws IOException {
        Path sharded = RandomCheckpoint.builder(TinyModels.CONFIG).seed(5).shards(2).build()
                .writeTo(fixtures.resolve("sharded"));
        hub.publish("bloom4j-test/sharded", sharded);
        Path dir = models.resolve("bloom4j-test/sharded");
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors.index.json")));
        assertTrue(Files.isRegularFile(dir.resolve("model-00001-of-00002.safetensors")));
        assertTrue(Files.isRegularFile(dir.resolve("model-00002-of-00002.safetensors")));
        try (BloomModel model = BloomModel.load(dir)) {
            assertEquals(64, model.info().embeddingSize());
        }
    }

    @Test
    void ggufRepositoryPicksTheQuantization() {
        String commit = hub.publish(GGUF_REPO, ggufs);
        Path q8 = models.resolve(GGUF_REPO + ":q8_0");
        assertEquals(cache.resolve("models--bloom4j-test--tiny-GGUF/snapshots/" + commit + "/tiny-Q8_0.gguf"), q8);
        try (BloomModel model = BloomModel.load(q8)) {
            assertEquals(WeightType.Q8_0, model.info().weightType());
        }
        Path f16 = models.resolve(GGUF_REPO + ":F16");
        assertEquals("tiny-F16.gguf", f16.getFileName().toString());
        // No tag and no Q4_K_M file: the fallback order puts Q8_0 before F16.
        assertEquals(q8, models.resolve(GGUF_REPO));
        // Only the GGUF files asked for were fetched.
        assertEquals(2, hub.requests("GET", "/cdn/").size());

        ModelNotFoundException e = assertThrows(ModelNotFoundException.class,
                () -> models.resolve(GGUF_REPO + ":q4_k_m"));
        assertTrue(e.getMessage().contains("no GGUF file in " + GGUF_REPO + " on the hub matches quantization "
                + "'q4_k_m'; available: F16 (tiny-F16.gguf), Q8_0 (tiny-Q8_0.gguf)"), e.getMessage());
    }

    @Test
    void quantizationOfASafetensorsRepositoryIsRefused() {
        hub.publish(REPO, checkpoint);
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class, () -> models.resolve(REPO + ":q8_0"));
        assertTrue(e.getMessage().contains("no GGUF file in " + REPO), e.getMessage());
        assertTrue(e.getMessage().contains("leave out ':q8_0'"), e.getMessage());
    }

    @Test
    void cutDownloadResumesWithARange() throws IOException {
        hub.publish(REPO, checkpoint);
        byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
        hub.cutNextContentAfter = 100_000;
        Path dir = models.resolve(REPO);
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(dir.resolve("model.safetensors"))));
        List<FakeHub.Request> gets = hub.requests("GET", "/cdn/");
        assertEquals(2, gets.size(), gets.toString());
        assertEquals(null, gets.get(0).range());
        // Where the cut left off as the client saw it: at most the 100000 bytes sent, fewer when the connection's
        // reset discarded some in flight.
        String range = gets.get(1).range();
        assertTrue(range != null && range.matches("bytes=\\d+-"), "the second request resumes: " + range);
        long from = Long.parseLong(range.substring(6, range.length() - 1));
        assertTrue(from > 0 && from <= 100_000, range);
    }

    @Test
    void partialFileOfAnEarlierRunIsResumed() throws IOException {
        String commit = hub.publish(REPO, checkpoint);
        byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
        String sha = FakeHub.sha256(weights);
        Path blobs = Files.createDirectories(cache.resolve("models--bloom4j-test--tiny/blobs"));
        Files.write(blobs.resolve(sha + ".incomplete"), java.util.Arrays.copyOf(weights, 12_345));

        Path dir = models.resolve(REPO);
        assertEquals(commit, dir.getFileName().toString());
        List<FakeHub.Request> gets = hub.requests("GET", "/cdn/");
        assertEquals(1, gets.size());
        assertEquals("bytes=12345-", gets.getFirst().range());
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(blobs.resolve(sha))));
        assertFalse(Files.exists(blobs.resolve(sha + ".incomplete")));
    }

    @Test
    void serverIgnoringTheRangeRestartsTheFile() throws IOException {
        hub.publish(REPO, checkpoint);
        byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
        Path blobs = Files.createDirectories(cache.resolve("models--bloom4j-test--tiny/blobs"));
        // A partial file whose bytes are wrong: only a full 200 answer and a checksum make this right.
        byte[] wrong = java.util.Arrays.copyOf(weights, 5000);
        wrong[10] ^= 1;
        Files.write(blobs.resolve(FakeHub.sha256(weights) + ".incomplete"), wrong);
        hub.ignoreRanges = true;
        Path dir = models.resolve(REPO);
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(dir.resolve("model.safetensors"))));
    }

    @Test
    void corruptDownloadIsDetectedAndFetchedAgain() throws IOException {
        hub.publish(REPO, checkpoint);
        byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
        hub.corruptNextContent = true;
        Path dir = models.resolve(REPO);
        assertEquals(2, hub.requests("GET", "/cdn/").size(), "the corrupt copy was thrown away and fetched again");
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(dir.resolve("model.safetensors"))));
    }

    @Test
    void corruptCachedBlobIsFoundByVerifyAndFetchedAgain() throws IOException {
        hub.publish(REPO, checkpoint);
        byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
        byte[] config = Files.readAllBytes(checkpoint.resolve("config.json"));
        Path dir = models.resolve(REPO);
        Path blob = dir.resolve("model.safetensors").toRealPath();
        Path configBlob = dir.resolve("config.json").toRealPath();
        byte[] bad = weights.clone();
        bad[bad.length - 1] ^= 1;
        Files.write(blob, bad);
        Files.writeString(configBlob, "{}");

        // Without verify a cached file is trusted, as huggingface_hub trusts it.
        models.resolve(REPO);
        assertEquals(1, hub.requests("GET", "/cdn/").size());

        models.download(HubName.parse(REPO), null, true);
        assertEquals(2, hub.requests("GET", "/cdn/").size());
        assertTrue(java.util.Arrays.equals(weights, Files.readAllBytes(blob)), "sha256-named blob repaired");
        assertTrue(java.util.Arrays.equals(config, Files.readAllBytes(configBlob)), "git-hash-named blob repaired");
    }

    @Test
    void progressIsReported() {
        hub.publish(REPO, checkpoint);
        Map<String, long[]> last = new HashMap<>();
        models.resolve(REPO, (file, done, total) -> {
            long[] previous = last.get(file);
            assertTrue(previous == null || done >= previous[0], "non-decreasing");
            last.put(file, new long[] {done, total});
        });
        long size = checkpoint.resolve("model.safetensors").toFile().length();
        assertEquals(size, last.get("model.safetensors")[0]);
        assertEquals(size, last.get("model.safetensors")[1]);
        assertTrue(last.containsKey("config.json"));
    }

    @Test
    void revisionsAndCommits() {
        String first = hub.publish(REPO, checkpoint);
        String second = hub.publish(REPO, checkpoint, "v2", null);
        assertEquals(second, models.resolve(REPO + "@v2").getFileName().toString());
        assertEquals(first, models.resolve(REPO + "@" + first).getFileName().toString());
        Path repo = cache.resolve("models--bloom4j-test--tiny");
        assertEquals(second, readString(repo.resolve("refs/v2")));
        assertFalse(Files.exists(repo.resolve("refs/" + first)), "a commit needs no ref");

        ModelNotFoundException e = assertThrows(ModelNotFoundException.class, () -> models.resolve(REPO + "@nope"));
        assertTrue(e.getMessage().contains("no revision 'nope' in " + REPO), e.getMessage());
    }

    @Test
    void renamedRepositoryFollowsTheHubsRelativeRedirects() throws IOException {
        String commit = hub.publish(REPO, checkpoint);
        hub.rename("old-org/tiny", REPO);
        Path dir = models.resolve("old-org/tiny");
        // Cached under the name asked for, as huggingface_hub caches it.
        assertEquals(cache.resolve("models--old-org--tiny/snapshots/" + commit), dir);
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        assertTrue(hub.requests("HEAD", "/old-org/tiny/resolve/").size() >= 3, "asked by the old name first");
    }

    @Test
    void missingRepositoryIsNotFound() {
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class, () -> models.resolve("nobody/nothing"));
        assertTrue(e.getMessage().contains("no repository nobody/nothing on " + hub.endpoint()), e.getMessage());
    }

    @Test
    void gatedRepositoryAsksForHfToken() {
        hub.publish("bloom4j-test/gated", checkpoint, "main", "hf_secret");
        ModelDownloadException none = assertThrows(ModelDownloadException.class,
                () -> models.resolve("bloom4j-test/gated"));
        assertEquals(401, none.httpStatus());
        assertTrue(none.getMessage().contains("set HF_TOKEN"), none.getMessage());

        HubModels wrong = HubModels.of(config().withToken("hf_wrong"));
        ModelDownloadException refused = assertThrows(ModelDownloadException.class,
                () -> wrong.resolve("bloom4j-test/gated"));
        assertEquals(403, refused.httpStatus());
        assertTrue(refused.getMessage().contains("does not grant access"), refused.getMessage());
        assertTrue(refused.getMessage().contains("accept its terms at " + hub.endpoint() + "/bloom4j-test/gated"),
                refused.getMessage());

        Path dir = HubModels.of(config().withToken("hf_secret")).resolve("bloom4j-test/gated");
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")));
        for (FakeHub.Request r : hub.requests) {
            if (r.path().startsWith("/cdn/") || r.authorization() == null) {
                continue;
            }
            assertTrue(r.authorization().equals("Bearer hf_secret") || r.authorization().equals("Bearer hf_wrong"));
        }
    }

    @Test
    void unreachableHubIsANetworkFailure() throws IOException {
        URI closed;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = URI.create("http://127.0.0.1:" + s.getLocalPort());
        }
        HubModels offlineHub = HubModels.of(new HubConfig(cache, closed, null, false));
        ModelDownloadException e = assertThrows(ModelDownloadException.class, () -> offlineHub.resolve(REPO));
        assertEquals(0, e.httpStatus());
        assertTrue(e.getMessage().contains("network failure talking to " + closed), e.getMessage());
        assertTrue(e.getMessage().contains("HF_HUB_OFFLINE=1"), e.getMessage());

        // Once cached, an unreachable hub falls back to the cache.
        hub.publish(REPO, checkpoint);
        Path dir = models.resolve(REPO);
        assertEquals(dir, offlineHub.resolve(REPO));
    }

    @Test
    void pytorchOnlyRepositoryIsUnsupported() {
        hub.publish("bloom4j-test/bin-only", Map.of("config.json", "{}".getBytes(StandardCharsets.UTF_8),
                "pytorch_model.bin", new byte[] {1, 2, 3}), "main", null);
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> models.resolve("bloom4j-test/bin-only"));
        assertEquals(BloomStatus.UNSUPPORTED, e.status());
        assertTrue(e.getMessage().contains("pytorch_model.bin; bloom4j reads model.safetensors"), e.getMessage());
    }

    @Test
    void splitGgufIsRefused() {
        hub.publish("bloom4j-test/split", Map.of("m-Q8_0-00001-of-00002.gguf", new byte[] {1},
                "m-Q8_0-00002-of-00002.gguf", new byte[] {2}), "main", null);
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> models.resolve("bloom4j-test/split:q8_0"));
        assertTrue(e.getMessage().contains("split into 2 files, which bloom4j does not load"), e.getMessage());
    }

    @Test
    void namesThatAreNeitherPathsNorHubNames() {
        IllegalArgumentException three = assertThrows(IllegalArgumentException.class, () -> models.resolve("a/b/c"));
        assertTrue(three.getMessage().contains("'a/b/c'") && three.getMessage().contains("2 '/'"), three.getMessage());
        IllegalArgumentException org = assertThrows(IllegalArgumentException.class, () -> models.resolve("org/"));
        assertTrue(org.getMessage().contains("empty name"), org.getMessage());
        ModelNotFoundException plain = assertThrows(ModelNotFoundException.class, () -> models.resolve("bloom-560m"));
        assertTrue(plain.getMessage().contains("model not found: bloom-560m"), plain.getMessage());
        ModelNotFoundException relative = assertThrows(ModelNotFoundException.class,
                () -> models.resolve("./models/x"));
        assertTrue(relative.getMessage().contains("model not found: ./models/x"), relative.getMessage());
        assertTrue(hub.requests.isEmpty(), "no request for names that cannot be hub names");
    }

    @Test
    void existingPathStaysAPath() {
        assertEquals(checkpoint, models.resolve(checkpoint.toString()));
        assertTrue(hub.requests.isEmpty());
        // BloomModel.load(String) reads this process's environment: only inputs that never reach a hub here.
        try (BloomModel model = BloomModel.load(checkpoint.toString())) {
            assertEquals(checkpoint, model.path());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BloomModel.load("a/b/c"));
        assertTrue(e.getMessage().contains("not a hub model name: 'a/b/c'"), e.getMessage());
        ModelNotFoundException missing = assertThrows(ModelNotFoundException.class,
                () -> BloomModel.load(checkpoint.resolve("absent").toString()));
        assertTrue(missing.getMessage().contains("model not found: " + checkpoint.resolve("absent")),
                missing.getMessage());
    }

    @Test
    void cachedListsWhatTheCacheHolds() {
        String commit = hub.publish(REPO, checkpoint);
        hub.publish(GGUF_REPO, ggufs);
        models.resolve(REPO);
        models.resolve(GGUF_REPO + ":q8_0");
        models.resolve(GGUF_REPO + ":f16");
        List<CachedModel> cached = models.cached();
        assertEquals(2, cached.size(), cached.toString());
        CachedModel tiny = cached.stream().filter(m -> m.repository().equals(REPO)).findFirst().orElseThrow();
        assertEquals(commit, tiny.commit());
        assertEquals(List.of("main"), tiny.refs());
        assertEquals("safetensors", tiny.format());
        assertEquals(REPO, tiny.name());
        long expected = 0;
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            expected += checkpoint.resolve(f).toFile().length();
        }
        assertEquals(expected, tiny.sizeBytes());
        CachedModel gguf = cached.stream().filter(m -> m.repository().equals(GGUF_REPO)).findFirst().orElseThrow();
        assertEquals("gguf", gguf.format());
        assertEquals(List.of("F16", "Q8_0"), gguf.quantizations());
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
