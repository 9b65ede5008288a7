package dev.bloom4j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server through the official OpenAI Java SDK ({@code com.openai:openai-java}), a client nobody here wrote:
 * completions and chat, streaming, n, stop, logprobs, seeds, errors as the SDK's exceptions; greedy output equals a
 * lone session's (what {@code bloom generate --temperature 0} prints), also while 8 other streams run.
 */
class OpenAiSdkTest {
    static TestServer server;
    static OpenAIClient client;

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        server = TestServer.start(dir);
        client = OpenAIOkHttpClient.builder().baseUrl(server.base + "/v1").apiKey(TestServer.KEY).maxRetries(0)
                .build();
    }

    @AfterAll
    static void stop() {
        client.close();
        server.close();
    }

    static CompletionCreateParams.Builder completion(String prompt, int maxTokens) {
        return CompletionCreateParams.builder().model("demo").prompt(prompt).maxTokens(maxTokens);
    }

    @Test
    void greedyCompletionEqualsALoneSession() {
        String prompt = "The capital of France is";
        Completion c = client.completions().create(completion(prompt, 24).temperature(0.0).build());
        dev.bloom4j.Completion want = server.greedyAlone(prompt, 24);
        assertEquals(1, c.choices().size());
        assertEquals(want.text(), c.choices().getFirst().text());
        assertEquals(want.generatedTokens(), c.usage().orElseThrow().completionTokens());
        assertEquals(want.promptTokens(), c.usage().orElseThrow().promptTokens());
        assertEquals(CompletionChoice.FinishReason.LENGTH, c.choices().getFirst().finishReason());
        assertEquals("demo", c.model());
    }

    @Test
    void greedyCompletionEqualsALoneSessionWhileEightStreamsRun() throws Exception {
        String prompt = "Once upon a time";
        dev.bloom4j.Completion want = server.greedyAlone(prompt, 32);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        CountDownLatch streaming = new CountDownLatch(8);
        AtomicInteger chunks = new AtomicInteger();
        List<Future<String>> others = new ArrayList<>();
        try {
            for (int i = 0; i < 8; i++) {
                CompletionCreateParams p = completion("Stream number " + i + " says", 100).temperature(0.8)
                        .seed(i).putAdditionalBodyProperty("ignore_eos", com.openai.core.JsonValue.from(true))
                        .build();
                others.add(pool.submit(() -> {
                    StringBuilder text = new StringBuilder();
                    try (StreamResponse<Completion> s = client.completions().createStreaming(p)) {
                        s.stream().forEach(chunk -> {
                            if (chunks.incrementAndGet() > 0 && text.isEmpty()) {
                                streaming.countDown();
                            }
                            chunk.choices().forEach(ch -> text.append(ch.text()));
                        });
                    }
                    return text.toString();
                }));
            }
            assertTrue(streaming.await(60, TimeUnit.SECONDS), "the 8 streams did not start");
            assertTrue(server.metric("bloom4j_active_sequences") >= 4, "the other streams are not running");
            Completion c = client.completions().create(completion(prompt, 32).temperature(0.0).build());
            assertEquals(want.text(), c.choices().getFirst().text());
            for (Future<String> f : others) {
                assertFalse(f.get(120, TimeUnit.SECONDS).isEmpty());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void streamedCompletionEqualsTheWholeOneAndEndsWithUsage() {
        String prompt = "Hello there";
        String whole = client.completions().create(completion(prompt, 20).temperature(0.0).build())
                .choices().getFirst().text();
        StringBuilder streamed = new StringBuilder();
        List<CompletionChoice.FinishReason> reasons = new ArrayList<>();
        List<Long> usage = new ArrayList<>();
        CompletionCreateParams p = completion(prompt, 20).temperature(0.0)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        try (StreamResponse<Completion> s = client.completions().createStreaming(p)) {
            s.stream().forEach(chunk -> {
                for (CompletionChoice ch : chunk.choices()) {
                    streamed.append(ch.text());
                    ch._finishReason().asKnown().ifPresent(reasons::add);
                }
                chunk.usage().ifPresent(u -> usage.add(u.completionTokens()));
            });
        }
        assertEquals(whole, streamed.toString());
        assertEquals(List.of(CompletionChoice.FinishReason.LENGTH), reasons);
        assertEquals(List.of(20L), usage);
    }

    @Test
    void chatEqualsTheTemplatedPromptAlone() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("demo")
                .addSystemMessage("You answer briefly.").addUserMessage("What is the capital of France?")
                .maxCompletionTokens(16).temperature(0.0).build());
        // BLOOMZ's plain form: the contents joined by a newline.
        dev.bloom4j.Completion want = server.greedyAlone("You answer briefly.\nWhat is the capital of France?", 16);
        assertEquals(want.text(), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(ChatCompletion.Choice.FinishReason.LENGTH, c.choices().getFirst().finishReason());
        assertEquals(16, c.usage().orElseThrow().completionTokens());
    }

    @Test
    void streamedChatEqualsTheWholeOne() {
        ChatCompletionCreateParams.Builder p = ChatCompletionCreateParams.builder().model("demo")
                .addUserMessage("Tell me a story").maxCompletionTokens(24).temperature(0.0);
        String whole = client.chat().completions().create(p.build()).choices().getFirst().message().content()
                .orElseThrow();
        StringBuilder streamed = new StringBuilder();
        List<String> roles = new ArrayList<>();
        List<Long> usage = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(
                p.streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            s.stream().forEach(chunk -> {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) {
                    ch.delta().content().ifPresent(streamed::append);
                    ch.delta().role().ifPresent(r -> roles.add(r.asString()));
                }
                chunk.usage().ifPresent(u -> usage.add(u.completionTokens()));
            });
        }
        assertEquals(whole, streamed.toString());
        assertEquals(List.of("assistant"), roles);
        assertEquals(List.of(24L), usage);
    }

    @Test
    void nSamplesAreReproducibleAndEachIsTheSingleRunWithItsSeed() {
        CompletionCreateParams three = completion("A list of fruits:", 12).temperature(1.0).seed(42).n(3).build();
        Completion a = client.completions().create(three);
        Completion b = client.completions().create(three);
        assertEquals(3, a.choices().size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, a.choices().get(i).index());
            assertEquals(a.choices().get(i).text(), b.choices().get(i).text());
            Completion single = client.completions().create(completion("A list of fruits:", 12).temperature(1.0)
                    .seed(42 + i).build());
            assertEquals(single.choices().getFirst().text(), a.choices().get(i).text(), "sample " + i);
        }
        assertEquals(36, a.usage().orElseThrow().completionTokens());
    }

    @Test
    void streamedSamplesEqualTheWholeOnesWithOneFinishEach() {
        CompletionCreateParams.Builder p = completion("Colours:", 10).temperature(1.0).seed(5).n(3);
        Completion whole = client.completions().create(p.build());
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        int[] finishes = new int[3];
        try (StreamResponse<Completion> s = client.completions().createStreaming(p.build())) {
            s.stream().forEach(chunk -> {
                for (CompletionChoice ch : chunk.choices()) {
                    texts[(int) ch.index()].append(ch.text());
                    if (ch._finishReason().asKnown().isPresent()) {
                        finishes[(int) ch.index()]++;
                    }
                }
            });
        }
        for (int i = 0; i < 3; i++) {
            assertEquals(whole.choices().get(i).text(), texts[i].toString(), "choice " + i);
            assertEquals(1, finishes[i], "finish chunks of choice " + i);
        }
    }

    @Test
    void seedsMakeSamplingReproducible() {
        String one = client.completions().create(completion("Seeds", 16).temperature(1.5).seed(7).build())
                .choices().getFirst().text();
        String again = client.completions().create(completion("Seeds", 16).temperature(1.5).seed(7).build())
                .choices().getFirst().text();
        assertEquals(one, again);
        List<String> others = new ArrayList<>();
        for (long seed = 8; seed < 12; seed++) {
            others.add(client.completions().create(completion("Seeds", 16).temperature(1.5).seed(seed).build())
                    .choices().getFirst().text());
        }
        assertTrue(others.stream().anyMatch(t -> !t.equals(one)), "every seed gave the same text: " + one);
    }

    @Test
    void stopStringsCutTheText() {
        String full = client.completions().create(completion("Stop here", 24).temperature(0.0).build())
                .choices().getFirst().text();
        assertTrue(full.length() > 8, full);
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        int at = full.indexOf(stop);
        CompletionChoice c = client.completions().create(completion("Stop here", 24).temperature(0.0).stop(stop)
                .build()).choices().getFirst();
        assertEquals(full.substring(0, at), c.text());
        assertEquals(CompletionChoice.FinishReason.STOP, c.finishReason());
    }

    @Test
    void completionLogprobsListEveryTokenWithTheTopAlternatives() {
        Completion c = client.completions().create(completion("Log probabilities", 8).temperature(0.0).logprobs(3)
                .build());
        CompletionChoice.Logprobs lp = c.choices().getFirst().logprobs().orElseThrow();
        List<String> tokens = lp.tokens().orElseThrow();
        List<Double> values = lp.tokenLogprobs().orElseThrow();
        List<CompletionChoice.Logprobs.TopLogprob> top = lp.topLogprobs().orElseThrow();
        assertEquals(8, tokens.size());
        assertEquals(8, values.size());
        assertEquals(String.join("", tokens), c.choices().getFirst().text());
        for (int i = 0; i < 8; i++) {
            assertTrue(values.get(i) <= 0, "log-probability " + values.get(i));
            var alternatives = top.get(i)._additionalProperties();
            assertTrue(alternatives.size() >= 1 && alternatives.size() <= 3, alternatives.toString());
            // greedy: the chosen token is the most likely, so its log-probability is the largest listed
            double best = alternatives.values().stream().mapToDouble(v -> v.convert(Double.class)).max()
                    .orElseThrow();
            assertEquals(best, values.get(i), 1e-6);
        }
        assertEquals(List.of(0L, (long) tokens.getFirst().length()), lp.textOffset().orElseThrow().subList(0, 2));
    }

    @Test
    void chatLogprobsCarryBytesAndTopAlternatives() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("demo")
                .addUserMessage("Hi").maxCompletionTokens(5).temperature(0.0).logprobs(true).topLogprobs(2)
                .build());
        List<ChatCompletionTokenLogprob> content = c.choices().getFirst().logprobs().orElseThrow().content()
                .orElseThrow();
        assertEquals(5, content.size());
        for (ChatCompletionTokenLogprob t : content) {
            assertEquals(2, t.topLogprobs().size());
            assertEquals(t.topLogprobs().getFirst().logprob(), t.logprob(), 1e-6);
            assertTrue(t.topLogprobs().get(0).logprob() >= t.topLogprobs().get(1).logprob());
            byte[] bytes = new byte[t.bytes().orElseThrow().size()];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (long) t.bytes().orElseThrow().get(i);
            }
            assertEquals(t.token(), new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    @Test
    void modelsListsTheServedModel() {
        List<Model> models = client.models().list().data();
        assertEquals(List.of("demo"), models.stream().map(Model::id).toList());
    }

    @Test
    void badRequestsArriveAsTheSdksExceptions() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.completions().create(
                completion("x", 4).temperature(-1.0).build()));
        assertEquals(400, e.statusCode());
        assertEquals("temperature", e.param().orElseThrow());
        assertEquals("invalid_request_error", e.type().orElseThrow());

        String tooLong = "word ".repeat(TestServer.CONTEXT + 10);
        BadRequestException full = assertThrows(BadRequestException.class, () -> client.completions().create(
                completion(tooLong, 4).build()));
        assertEquals("context_length_exceeded", full.code().orElseThrow());

        BadRequestException roles = assertThrows(BadRequestException.class, () -> client.chat().completions().create(
                ChatCompletionCreateParams.builder().model("demo").addUserMessage("hi").logprobs(false)
                        .topLogprobs(3).build()));
        assertEquals("top_logprobs", roles.param().orElseThrow());

        OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl(server.base + "/v1").apiKey("wrong")
                .maxRetries(0).build();
        try {
            UnauthorizedException u = assertThrows(UnauthorizedException.class,
                    () -> wrongKey.completions().create(completion("x", 2).build()));
            assertEquals("invalid_api_key", u.code().orElseThrow());
        } finally {
            wrongKey.close();
        }
        // the server still serves
        assertNotEquals("", client.completions().create(completion("still here", 4).temperature(0.0).build())
                .choices().getFirst().text());
    }
}
