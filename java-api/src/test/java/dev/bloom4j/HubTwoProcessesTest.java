package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.checkpoint.DataType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two processes resolve the same name into one cache at the same moment. The hub holds the weights back until both
 * have asked for the file's metadata, so both are past the cache check and inside the download when one takes the
 * lock; the lock must make the other wait and then find the finished blob.
 */
class HubTwoProcessesTest {

    @TempDir
    Path temp;

    @Test
    void twoProcessesFetchOneCopy() throws Exception {
        Path checkpoint = TinyModels.random(temp.resolve("tiny"), 3, DataType.F32);
        Path cache = temp.resolve("cache");
        try (FakeHub hub = new FakeHub()) {
            hub.publish(HubModelsTest.REPO, checkpoint);
            hub.gate("model.safetensors", 2);

            Path log = temp.resolve("child.log");
            Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("java.class.path"), HubDownloadMain.class.getName(), cache.toString(),
                    hub.endpoint().toString(), HubModelsTest.REPO)
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            CompletableFuture<Path> here = CompletableFuture.supplyAsync(
                    () -> HubModels.of(new HubConfig(cache, hub.endpoint(), null, false)).resolve(HubModelsTest.REPO));

            assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child process finished");
            String childOut = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(0, child.exitValue(), childOut);
            Path dir = here.get(120, TimeUnit.SECONDS);
            assertEquals(dir.toString(), childOut.strip().lines().reduce((a, b) -> b).orElse(""), childOut);

            assertEquals(2, hub.requests("HEAD", "/" + HubModelsTest.REPO + "/resolve/").stream()
                    .filter(r -> r.path().endsWith("/model.safetensors")).count(), "both processes asked");
            assertEquals(1, hub.requests("GET", "/cdn/").size(), "one download of the weights");
            for (String file : List.of("config.json", "tokenizer.json")) {
                assertEquals(1, hub.requests("GET", "/" + HubModelsTest.REPO + "/resolve/").stream()
                        .filter(r -> r.path().endsWith("/" + file)).count(), "one download of " + file);
            }
            byte[] weights = Files.readAllBytes(checkpoint.resolve("model.safetensors"));
            assertTrue(Arrays.equals(weights, Files.readAllBytes(dir.resolve("model.safetensors"))));
            try (Stream<Path> blobs = Files.list(cache.resolve("models--bloom4j-test--tiny/blobs"))) {
                List<String> names = blobs.map(p -> p.getFileName().toString()).sorted().toList();
                assertEquals(3, names.size(), names.toString());
                assertTrue(names.stream().noneMatch(n -> n.endsWith(".incomplete")), names.toString());
            }
        }
    }
}
