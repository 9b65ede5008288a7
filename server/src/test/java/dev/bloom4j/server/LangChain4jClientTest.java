package dev.bloom4j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.AuthenticationException;
import dev.langchain4j.exception.HttpException;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.LogProb;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiChatResponseMetadata;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingLanguageModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.service.AiServices;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server through LangChain4j's OpenAI module ({@code dev.langchain4j:langchain4j-open-ai}), a client nobody
 * here wrote, as a Java application would use it: the completions and chat models, streamed and not, stop strings,
 * seeds, logprobs, errors as LangChain4j's exceptions, and an {@link AiServices} interface. Greedy output equals a
 * lone session's (what {@code bloom generate --temperature 0} prints).
 */
class LangChain4jClientTest {
    static TestServer server;
    static String baseUrl;

    /** What an application declares; LangChain4j implements it over the chat model. */
    interface Assistant {
        String answer(String question);
    }

    @BeforeAll
    static void start(@TempDir Path dir) throws Exception {
        server = TestServer.start(dir);
        baseUrl = server.base + "/v1";
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static OpenAiChatModel.OpenAiChatModelBuilder chat() {
        return OpenAiChatModel.builder().baseUrl(baseUrl).apiKey(TestServer.KEY).modelName("demo").maxRetries(0);
    }

    static OpenAiStreamingChatModel.OpenAiStreamingChatModelBuilder streamingChat() {
        return OpenAiStreamingChatModel.builder().baseUrl(baseUrl).apiKey(TestServer.KEY).modelName("demo");
    }

    static OpenAiLanguageModel language(double temperature) {
        return OpenAiLanguageModel.builder().baseUrl(baseUrl).apiKey(TestServer.KEY).modelName("demo")
                .temperature(temperature).maxRetries(0).build();
    }

    /** A lone session's sample with the server's sampling for a request with only temperature and seed set. */
    static String sampledAlone(String prompt, int maxTokens, double temperature, long seed) {
        GenerationConfig config = GenerationConfig.builder().maxTokens(maxTokens).temperature(temperature).topK(0)
                .topP(1).minP(0).repetitionPenalty(1).presencePenalty(0).frequencyPenalty(0).penaltyLastN(-1)
                .seed(seed).build();
        try (BloomModel model = BloomModel.load(server.modelDir);
             BloomSession session = model.newSession(SessionConfig.builder().contextSize(TestServer.CONTEXT)
                     .threads(2).build())) {
            return session.generate(prompt, config).text();
        }
    }

    @Test
    void languageModelEqualsALoneSessionWithOpenAisDefaultOf16Tokens() {
        String prompt = "The capital of France is";
        // LangChain4j's completions model sends no max_tokens: the server's default, OpenAI's 16, applies
        Response<String> r = language(0.0).generate(prompt);
        Completion want = server.greedyAlone(prompt, Requests.COMPLETION_DEFAULT_MAX_TOKENS);
        assertEquals(16, want.generatedTokens(), "the reference stopped early: " + want.finishReason());
        assertEquals(want.text(), r.content());
        assertEquals(want.promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(16, r.tokenUsage().outputTokenCount());
        assertEquals(want.promptTokens() + 16, r.tokenUsage().totalTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void streamingLanguageModelEqualsTheWholeCompletion() throws Exception {
        String prompt = "Hello there";
        String whole = language(0.0).generate(prompt).content();
        OpenAiStreamingLanguageModel model = OpenAiStreamingLanguageModel.builder().baseUrl(baseUrl)
                .apiKey(TestServer.KEY).modelName("demo").temperature(0.0).build();
        List<String> tokens = new CopyOnWriteArrayList<>();
        List<Response<String>> completions = new CopyOnWriteArrayList<>();
        CompletableFuture<Response<String>> done = new CompletableFuture<>();
        model.generate(prompt, new StreamingResponseHandler<>() {
            @Override
            public void onNext(String token) {
                tokens.add(token);
            }

            @Override
            public void onComplete(Response<String> response) {
                completions.add(response);
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        Response<String> r = done.get(60, TimeUnit.SECONDS);
        assertTrue(tokens.size() > 1, "tokens " + tokens);
        assertEquals(whole, String.join("", tokens));
        assertEquals(whole, r.content());
        assertEquals(1, completions.size());
        assertEquals(16, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void chatEqualsTheTemplatedPromptAloneWithUsageAndFinishReason() {
        String system = "You answer briefly.";
        String user = "What is the capital of France?";
        ChatResponse r = chat().temperature(0.0).maxTokens(12).build()
                .chat(SystemMessage.from(system), UserMessage.from(user));
        // BLOOMZ's plain form: the contents joined by a newline.
        Completion want = server.greedyAlone(system + "\n" + user, 12);
        assertEquals(want.text(), r.aiMessage().text());
        OpenAiChatResponseMetadata metadata = assertInstanceOf(OpenAiChatResponseMetadata.class, r.metadata());
        assertEquals(want.promptTokens(), metadata.tokenUsage().inputTokenCount());
        assertEquals(12, metadata.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, metadata.finishReason());
        assertEquals("demo", metadata.modelName());
        assertNotNull(metadata.id());
        assertNotNull(metadata.created());
        // max_completion_tokens (the newer field) as well as max_tokens
        assertEquals(server.greedyAlone(user, 7).text(), chat().temperature(0.0).maxCompletionTokens(7).build()
                .chat(user));
    }

    @Test
    void stopStringsCutTheChatAnswer() {
        String user = "Stop here";
        String full = chat().temperature(0.0).maxTokens(24).build().chat(user);
        assertTrue(full.length() > 8, full);
        // a stop string that first occurs after the start: LangChain4j turns an empty answer into a null text
        String stop = null;
        for (int i = full.length() / 2; i + 3 <= full.length() && stop == null; i++) {
            String s = full.substring(i, i + 3);
            stop = full.indexOf(s) > 0 ? s : null;
        }
        assertNotNull(stop, "no stop string after the start of " + full);
        ChatResponse r = chat().temperature(0.0).maxTokens(24).stop(List.of(stop)).build()
                .chat(UserMessage.from(user));
        assertEquals(full.substring(0, full.indexOf(stop)), r.aiMessage().text());
        assertEquals(FinishReason.STOP, r.finishReason());
    }

    @Test
    void seedsMakeSamplingReproducibleAndEqualALoneSessionsSample() {
        String user = "A list of fruits:";
        String one = chat().temperature(1.0).seed(42).maxTokens(12).build().chat(user);
        assertEquals(one, chat().temperature(1.0).seed(42).maxTokens(12).build().chat(user));
        assertEquals(sampledAlone(user, 12, 1.0, 42), one);
        List<String> others = new ArrayList<>();
        for (int seed = 43; seed < 47; seed++) {
            others.add(chat().temperature(1.0).seed(seed).maxTokens(12).build().chat(user));
        }
        assertTrue(others.stream().anyMatch(t -> !t.equals(one)), "every seed gave the same text: " + one);
    }

    @Test
    void chatLogprobsArriveInTheResponseMetadata() {
        ChatResponse r = chat().temperature(0.0).maxTokens(5).logprobs(true).topLogprobs(2).build()
                .chat(UserMessage.from("Hi"));
        List<LogProb> logProbs = ((OpenAiChatResponseMetadata) r.metadata()).logProbs();
        assertNotNull(logProbs, "no logprobs in the metadata");
        assertEquals(5, logProbs.size());
        StringBuilder text = new StringBuilder();
        for (LogProb t : logProbs) {
            assertTrue(t.logprob() <= 0, "log-probability " + t.logprob());
            assertEquals(2, t.topLogprobs().size());
            // greedy: the chosen token is the most likely
            assertEquals(t.topLogprobs().getFirst().logprob(), t.logprob(), 1e-6);
            assertEquals(t.token(), t.topLogprobs().getFirst().token());
            assertTrue(t.topLogprobs().get(0).logprob() >= t.topLogprobs().get(1).logprob());
            byte[] bytes = new byte[t.bytes().size()];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (int) t.bytes().get(i);
            }
            assertEquals(t.token(), new String(bytes, StandardCharsets.UTF_8));
            text.append(t.token());
        }
        assertEquals(r.aiMessage().text(), text.toString());
    }

    @Test
    void streamingChatSendsPartialsThenOneCompleteResponse() throws Exception {
        String system = "You tell stories.";
        String user = "Tell me a story";
        String whole = chat().temperature(0.0).maxTokens(20).build()
                .chat(SystemMessage.from(system), UserMessage.from(user)).aiMessage().text();
        List<String> partials = new CopyOnWriteArrayList<>();
        List<ChatResponse> completes = new CopyOnWriteArrayList<>();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streamingChat().temperature(0.0).maxTokens(20).build().chat(List.of(SystemMessage.from(system),
                UserMessage.from(user)), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partialResponse) {
                partials.add(partialResponse);
            }

            @Override
            public void onCompleteResponse(ChatResponse completeResponse) {
                completes.add(completeResponse);
                done.complete(completeResponse);
            }

            @Override
            public void onError(Throwable error) {
                errors.add(error);
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertTrue(partials.size() > 1, "partials " + partials);
        assertEquals(String.join("", partials), r.aiMessage().text());
        assertEquals(whole, r.aiMessage().text());
        assertEquals(server.greedyAlone(system + "\n" + user, 20).text(), whole);
        assertEquals(1, completes.size());
        assertEquals(List.of(), errors);
        assertEquals(FinishReason.LENGTH, r.finishReason());
        // LangChain4j asks for stream_options.include_usage: the last chunk's usage
        assertEquals(20, r.tokenUsage().outputTokenCount());
    }

    @Test
    void errorsArriveAsLangChain4jsExceptions() throws Exception {
        AuthenticationException auth = assertThrowsExactly(AuthenticationException.class,
                () -> chat().apiKey("wrong").maxTokens(2).build().chat("x"));
        assertEquals(401, assertInstanceOf(HttpException.class, auth.getCause()).statusCode());
        assertEquals("invalid_api_key", error(auth).path("code").asText());

        InvalidRequestException temperature = assertThrowsExactly(InvalidRequestException.class,
                () -> chat().temperature(-1.0).maxTokens(2).build().chat("x"));
        assertEquals(400, assertInstanceOf(HttpException.class, temperature.getCause()).statusCode());
        assertEquals("temperature", error(temperature).path("param").asText());
        assertEquals("invalid_request_error", error(temperature).path("type").asText());
        String message = error(temperature).path("message").asText();
        assertTrue(message.contains("\"temperature\"") && message.contains("got -1.0"), message);

        String tooLong = "word ".repeat(TestServer.CONTEXT + 10);
        InvalidRequestException full = assertThrowsExactly(InvalidRequestException.class,
                () -> language(0.0).generate(tooLong));
        assertEquals("context_length_exceeded", error(full).path("code").asText());
        assertEquals("prompt", error(full).path("param").asText());

        // a streaming model reports to its handler
        CompletableFuture<Throwable> streamed = new CompletableFuture<>();
        streamingChat().apiKey("wrong").maxTokens(2).build().chat("x", new StreamingChatResponseHandler() {
            @Override
            public void onCompleteResponse(ChatResponse completeResponse) {
                streamed.completeExceptionally(new AssertionError("completed: " + completeResponse));
            }

            @Override
            public void onError(Throwable error) {
                streamed.complete(error);
            }
        });
        Throwable e = streamed.get(60, TimeUnit.SECONDS);
        assertEquals(AuthenticationException.class, e.getClass(), String.valueOf(e));

        // the server still serves
        assertEquals(server.greedyAlone("still here", 4).text(), chat().temperature(0.0).maxTokens(4).build()
                .chat("still here"));
    }

    /** The server's OpenAI error object, which LangChain4j passes on as the exception's message (the body). */
    static JsonNode error(LangChain4jException e) throws Exception {
        JsonNode error = BloomServer.JSON.readTree(e.getMessage()).path("error");
        assertTrue(error.isObject(), e.getMessage());
        return error;
    }

    @Test
    void aiServicesAnswerLikeThePlainChatModel() {
        OpenAiChatModel model = chat().temperature(0.0).maxTokens(10).build();
        Assistant assistant = AiServices.create(Assistant.class, model);
        String question = "Why is the sky blue?";
        String answer = assistant.answer(question);
        assertEquals(model.chat(question), answer);
        assertEquals(server.greedyAlone(question, 10).text(), answer);
    }
}
