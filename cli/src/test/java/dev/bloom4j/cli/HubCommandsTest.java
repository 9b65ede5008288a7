package dev.bloom4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bloom download}, {@code bloom list-models} and {@code --model org/name} against a minimal hub on loopback
 * (every file a plain git file: 200 with its git blob hash as ETag). The protocol details (LFS redirects, ranges,
 * locks, checksums) are tested in the API module's HubModelsTest; here, what the commands print and return.
 */
class HubCommandsTest {

    static final String COMMIT = "1111111111111111111111111111111111111111";

    @TempDir
    static Path temp;
    static Path checkpoint;
    static HttpServer server;
    static final List<String> requests = Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void hub() throws IOException {
        checkpoint = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(5).build()
                .writeTo(temp.resolve("tiny"));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", HubCommandsTest::handle);
        server.start();
    }

    @AfterAll
    static void stop() {
        server.stop(0);
    }

    private static void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        requests.add(ex.getRequestMethod() + " " + path);
        try (ex) {
            byte[] body;
            if (path.equals("/api/models/bloom4j-test/tiny/revision/main")) {
                body = ("{\"sha\":\"" + COMMIT + "\",\"siblings\":[{\"rfilename\":\"config.json\"},"
                        + "{\"rfilename\":\"tokenizer.json\"},{\"rfilename\":\"model.safetensors\"}]}")
                        .getBytes(StandardCharsets.UTF_8);
            } else if (path.startsWith("/bloom4j-test/tiny/resolve/" + COMMIT + "/")) {
                body = Files.readAllBytes(checkpoint.resolve(path.substring(path.lastIndexOf('/') + 1)));
                ex.getResponseHeaders().set("ETag", "\"" + gitBlobHash(body) + "\"");
                ex.getResponseHeaders().set("X-Repo-Commit", COMMIT);
            } else if (path.startsWith("/api/models/")) {
                ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
                ex.sendResponseHeaders(404, -1);
                return;
            } else {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            if (ex.getRequestMethod().equals("HEAD")) {
                ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
                ex.sendResponseHeaders(200, -1);
            } else {
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
            }
        }
    }

    static String gitBlobHash(byte[] bytes) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + bytes.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(sha1.digest(bytes));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static MainTest.Result run(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new ByteArrayInputStream(new byte[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env);
        return new MainTest.Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Map<String, String> env(Path cache, String... more) {
        var env = new java.util.HashMap<String, String>();
        env.put("HF_HUB_CACHE", cache.toString());
        env.put("HF_ENDPOINT", "http://127.0.0.1:" + server.getAddress().getPort());
        env.put("HF_HOME", temp.resolve("hf-home").toString()); // no token file
        for (int i = 0; i < more.length; i += 2) {
            env.put(more[i], more[i + 1]);
        }
        return env;
    }

    @Test
    void downloadThenRunOfflineThenList() throws Exception {
        Path cache = temp.resolve("cache-1");
        MainTest.Result download = run(env(cache), "download", "bloom4j-test/tiny");
        assertEquals(0, download.status(), download.err());
        Path snapshot = cache.resolve("models--bloom4j-test--tiny/snapshots/" + COMMIT);
        assertEquals(snapshot.toString(), download.out().strip());
        assertTrue(download.err().contains("fetching bloom4j-test/tiny: model.safetensors ("), download.err());
        assertTrue(Files.isSymbolicLink(snapshot.resolve("model.safetensors")));

        // Offline, by name: no request reaches the hub.
        int before = requests.size();
        MainTest.Result tokenize = run(env(cache, "HF_HUB_OFFLINE", "1"), "tokenize", "--model",
                "bloom4j-test/tiny", "--text", "Hello");
        assertEquals(0, tokenize.status(), tokenize.err());
        assertTrue(tokenize.json().get("ids").size() > 0);
        assertEquals(before, requests.size());

        MainTest.Result list = run(env(cache), "list-models");
        assertEquals(0, list.status(), list.err());
        List<String> lines = list.out().lines().toList();
        assertEquals(2, lines.size(), list.out());
        assertTrue(lines.get(0).matches("NAME\\s+REVISION\\s+COMMIT\\s+SIZE\\s+FORMAT"), lines.get(0));
        long size = 0;
        for (String f : List.of("config.json", "tokenizer.json", "model.safetensors")) {
            size += Files.size(checkpoint.resolve(f));
        }
        assertTrue(lines.get(1).matches("bloom4j-test/tiny\\s+main\\s+111111111111\\s+"
                + java.util.regex.Pattern.quote(ProgressBar.bytes(size)) + "\\s+safetensors"), lines.get(1));

        JsonNode json = run(env(cache), "list-models", "--json").json();
        assertEquals(cache.toString(), json.get("cache").asText());
        JsonNode m = json.get("models").get(0);
        assertEquals("bloom4j-test/tiny", m.get("name").asText());
        assertEquals(size, m.get("size").asLong());
        assertEquals("safetensors", m.get("format").asText());

        MainTest.Result again = run(env(cache), "download", "bloom4j-test/tiny", "--json");
        assertEquals(0, again.status(), again.err());
        assertEquals(snapshot.toString(), again.json().get("path").asText());
        assertEquals("", again.err(), "nothing fetched the second time");
    }

    @Test
    void infoByHubNameDownloadsFirst() throws Exception {
        Path cache = temp.resolve("cache-2");
        MainTest.Result info = run(env(cache), "info", "--model", "bloom4j-test/tiny", "--json");
        assertEquals(0, info.status(), info.err());
        assertEquals(cache.resolve("models--bloom4j-test--tiny/snapshots/" + COMMIT).toString(),
                info.json().get("model").asText());
    }

    @Test
    void errorsNameTheProblem() {
        Path cache = temp.resolve("cache-3");
        MainTest.Result bad = run(env(cache), "download", "org/");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("not a hub model name: 'org/': empty name"), bad.err());

        MainTest.Result missing = run(env(cache), "download", "nobody/nothing");
        assertEquals(1, missing.status());
        assertTrue(missing.err().startsWith("error: nobody/nothing: no repository nobody/nothing on http://127.0.0.1:"),
                missing.err());

        MainTest.Result offline = run(env(cache, "HF_HUB_OFFLINE", "1"), "generate", "--model", "bloom4j-test/tiny",
                "--prompt", "x");
        assertEquals(1, offline.status());
        assertTrue(offline.err().contains("holds no revision 'main' of bloom4j-test/tiny"), offline.err());
        assertTrue(offline.err().contains("HF_HUB_OFFLINE is set"), offline.err());

        MainTest.Result threeParts = run(env(cache), "info", "--model", "a/b/c");
        assertEquals(1, threeParts.status());
        assertTrue(threeParts.err().contains("'a/b/c'") && threeParts.err().contains("nor is there a file"),
                threeParts.err());

        MainTest.Result empty = run(env(cache), "list-models");
        assertEquals(0, empty.status());
        assertEquals("", empty.out());
        assertTrue(empty.err().contains("no models in the hub cache " + cache), empty.err());
    }

    @Test
    void progressBarShowsSizeRateAndTimes() throws InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), "model.safetensors");
        bar.updateBytes(0, 3_000_000);
        bar.updateBytes(1_000_000, 3_000_000);
        Thread.sleep(1100);  // the rate is per whole second elapsed
        bar.updateBytes(3_000_000, 3_000_000);
        bar.clear();
        String drawn = bytes.toString(StandardCharsets.UTF_8);
        String last = drawn.substring(drawn.lastIndexOf('\r') + 1).strip();
        assertTrue(last.startsWith("model.safetensors 100%"), last);
        assertTrue(last.contains("3/3 MB"), last);
        assertTrue(last.matches(".*\\(\\d+:\\d\\d:\\d\\d / \\d+:\\d\\d:\\d\\d\\).*"), "elapsed / left: " + last);
        assertTrue(last.matches(".*[0-9.]+ MB/s$"), "rate: " + last);
        assertTrue(drawn.endsWith(System.lineSeparator()), "the line ends once finished");

        ByteArrayOutputStream loading = new ByteArrayOutputStream();
        ProgressBar fraction = new ProgressBar(new PrintStream(loading, true, StandardCharsets.UTF_8), "loading m");
        fraction.update(0.5);
        fraction.update(1);
        fraction.clear();
        String done = loading.toString(StandardCharsets.UTF_8);
        assertTrue(done.substring(done.lastIndexOf('\r') + 1).strip().startsWith("loading m 100%"), done);

        assertEquals("1.50 kB", ProgressBar.bytes(1500));
        assertEquals("999 B", ProgressBar.bytes(999));
        assertEquals("12.3 GB", ProgressBar.bytes(12_345_678_901L));
    }
}
