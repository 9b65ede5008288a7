package dev.bloom4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bloom serve} as a user runs it: its greedy answer equals {@code bloom generate --temperature 0}'s. */
class ServeCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path temp;

    @Test
    void greedyCompletionEqualsBloomGenerate() throws Exception {
        String model = RandomCheckpoint.builder(BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256)).seed(5)
                .build().writeTo(temp.resolve("tiny")).toString();
        Path keyFile = temp.resolve("key.txt");
        Files.writeString(keyFile, "s3cret\n");
        String prompt = "The capital of France is";

        MainTest.Result generated = MainTest.run("generate", "--model", model, "--prompt", prompt,
                "--temperature", "0", "--max-tokens", "20", "--ignore-eos", "--threads", "1", "--json");
        assertEquals(0, generated.status(), generated.err());
        String want = generated.json().get("text").asText();

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
        AtomicInteger status = new AtomicInteger(-1);
        Thread serving = new Thread(() -> status.set(Main.run(new String[] {"serve", "--model", model, "--port", "0",
            "--threads", "1", "--api-key-file", keyFile.toString()}, new ByteArrayInputStream(new byte[0]),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), errStream)));
        serving.start();
        try {
            int port = awaitPort(err);
            HttpClient http = HttpClient.newHttpClient();
            String body = "{\"model\": \"tiny\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 20, "
                    + "\"temperature\": 0, \"ignore_eos\": true}";
            HttpResponse<String> denied = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, denied.statusCode(), denied.body());
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + "/v1/completions")).header("Authorization", "Bearer s3cret")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode choice = JSON.readTree(r.body()).at("/choices/0");
            assertEquals(want, choice.get("text").asText());
            assertEquals("length", choice.get("finish_reason").asText());
            assertEquals("tiny", JSON.readTree(r.body()).get("model").asText());
        } finally {
            serving.interrupt();
            serving.join(30_000);
        }
        assertEquals(0, status.get(), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void helpNamesTheEndpointsAndTheSecurityNotes() {
        MainTest.Result help = MainTest.run("serve", "--help");
        assertEquals(0, help.status(), help.err());
        for (String needle : new String[] {"/v1/completions", "/v1/chat/completions", "/health", "/metrics",
            "--parallel", "--ctx-size", "--api-key", "no TLS", "Default: ON"}) {
            assertTrue(help.out().contains(needle), needle + " missing from:\n" + help.out());
        }
    }

    @Test
    void badOptionsAreUsageErrors() {
        assertEquals(2, MainTest.run("serve", "--parallel", "0").status());
        assertEquals(2, MainTest.run("serve", "--api-key", "a", "--api-key-file", "b").status());
    }

    private static int awaitPort(ByteArrayOutputStream err) throws InterruptedException {
        Pattern listening = Pattern.compile("listening on http://[^:]+:(\\d+)");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            Matcher m = listening.matcher(err.toString(StandardCharsets.UTF_8));
            if (m.find()) {
                return Integer.parseInt(m.group(1));
            }
            Thread.sleep(20);
        }
        throw new AssertionError("bloom serve did not start:\n" + err.toString(StandardCharsets.UTF_8));
    }
}
