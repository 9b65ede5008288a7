package dev.bloom4j.langchain4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.Result;
import dev.langchain4j.service.SystemMessage;
import dev.langchain4j.service.TokenStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The four LangChain4j models on a tiny random checkpoint, called the way users call them (AiServices, streaming
 * handlers). The oracle is a plain {@link BloomSession} generation of the prompt the documented template gives: the
 * adapter must add nothing and lose nothing.
 */
class BloomLangChain4jTest {
    /** 1024-row embedding (the bundled 1000-token tokenizer plus padding), hidden 64, 2 layers, 4 heads. */
    private static final BloomConfig CONFIG = BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256);
    private static final SessionConfig SESSION =
            SessionConfig.builder().contextSize(256).batchSize(64).threads(1).build();
    private static final GenerationConfig BASE = GenerationConfig.greedy().maxTokens(12);

    @TempDir
    static Path dir;
    static BloomModel model;

    @BeforeAll
    static void load() throws IOException {
        Path checkpoint = RandomCheckpoint.builder(CONFIG).seed(7).dataType(DataType.F32).build()
                .writeTo(dir.resolve("tiny"));
        model = BloomModel.load(checkpoint);
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    private static Completion reference(String prompt, GenerationConfig config) {
        try (BloomSession s = model.newSession(SESSION)) {
            return s.generate(prompt, config);
        }
    }

    private static BloomChatModel chatModel() {
        return BloomChatModel.builder().model(model).generationConfig(BASE).sessionConfig(SESSION).build();
    }

    private static BloomStreamingChatModel streamingChatModel() {
        return BloomStreamingChatModel.builder().model(model).generationConfig(BASE).sessionConfig(SESSION).build();
    }

    interface Assistant {
        @SystemMessage("You answer in one word.")
        String chat(String question);
    }

    interface Bare {
        Result<String> ask(String question);
    }

    interface StreamingAssistant {
        TokenStream chat(String question);
    }

    @Test
    void aiServiceAnswersAsTheSessionDoesOnTheBloomzPrompt() {
        Assistant assistant = AiServices.create(Assistant.class, chatModel());
        String answer = assistant.chat("Which colour is the sky?");
        // BLOOMZ form: the system message, a newline, the user message; nothing after.
        Completion expected = reference("You answer in one word.\nWhich colour is the sky?", BASE);
        assertFalse(expected.text().isEmpty(), "the oracle generated no text; the test would prove nothing");
        assertEquals(expected.text(), answer);
    }

    @Test
    void tokenUsageAndFinishReasonComeFromTheCompletion() {
        Bare bare = AiServices.create(Bare.class, chatModel());
        Result<String> result = bare.ask("Translate to English: Je t'aime.");
        Completion expected = reference("Translate to English: Je t'aime.", BASE);
        assertEquals(expected.text(), result.content());
        assertEquals(expected.promptTokens(), result.tokenUsage().inputTokenCount());
        assertEquals(expected.generatedTokens(), result.tokenUsage().outputTokenCount());
        assertEquals(expected.promptTokens() + expected.generatedTokens(), result.tokenUsage().totalTokenCount());
        assertEquals(dev.bloom4j.FinishReason.LENGTH, expected.finishReason(), "random weights should run to maxTokens");
        assertEquals(FinishReason.LENGTH, result.finishReason());
    }

    @Test
    void requestParametersReplaceTheBaseConfig() {
        ChatRequest request = ChatRequest.builder()
                .messages(UserMessage.from("Once upon a time"))
                .maxOutputTokens(6)
                .temperature(50.0)
                .topK(40)
                .topP(0.99)
                .presencePenalty(0.5)
                .frequencyPenalty(0.25)
                .build();
        ChatResponse response = chatModel().chat(request);
        GenerationConfig same = BASE.toBuilder().maxTokens(6).temperature(50.0).topK(40).topP(0.99)
                .presencePenalty(0.5).frequencyPenalty(0.25).build();
        Completion expected = reference("Once upon a time", same);
        assertEquals(6, expected.generatedTokens());
        assertEquals(expected.text(), response.aiMessage().text());
        assertEquals(6, response.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, response.finishReason());
        // This random model's top token dominates (greedy writes "ime" over and over), so only an extreme
        // temperature moves the draw off it.
        // Equal to the sampled reference and different from greedy decoding: the parameters reached the sampler
        // (were they dropped, the answer would be the greedy one). Seeded, so the same on every run.
        Completion greedy = reference("Once upon a time", BASE.maxTokens(6));
        assertNotEquals(greedy.text(), expected.text(), "pick another seed: sampling gave the greedy answer");
    }

    @Test
    void aStopSequenceEndsTheAnswerWithStop() {
        Completion free = reference("Hello", BASE);
        String text = free.text();
        // A stop string taken from the middle of what greedy decoding writes, so it is certain to appear.
        String stop = text.substring(text.length() / 2, text.length() / 2 + 1);
        assertFalse(stop.isEmpty());
        Completion expected = reference("Hello", BASE.stop(stop));
        assertEquals(dev.bloom4j.FinishReason.STOP, expected.finishReason());
        ChatResponse response = chatModel().chat(ChatRequest.builder()
                .messages(UserMessage.from("Hello")).stopSequences(List.of(stop)).build());
        assertEquals(expected.text(), response.aiMessage().text());
        assertFalse(response.aiMessage().text().contains(stop));
        assertEquals(FinishReason.STOP, response.finishReason());
    }

    @Test
    void streamingChatPartialsConcatenateToTheCompleteResponse() {
        List<String> events = new ArrayList<>();
        StringBuilder partials = new StringBuilder();
        ChatResponse[] complete = new ChatResponse[1];
        streamingChatModel().chat("Tell me a story", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                events.add("partial");
                partials.append(text);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                events.add("complete");
                complete[0] = response;
            }

            @Override
            public void onError(Throwable error) {
                events.add("error " + error);
            }
        });
        Completion expected = reference("Tell me a story", BASE);
        assertTrue(events.size() >= 2, "expected partial responses then one complete, got " + events);
        assertEquals("complete", events.getLast(), events.toString());
        assertEquals(1, events.stream().filter(e -> !e.equals("partial")).count(), events.toString());
        assertEquals(expected.text(), partials.toString());
        assertEquals(expected.text(), complete[0].aiMessage().text());
        assertEquals(expected.promptTokens(), complete[0].tokenUsage().inputTokenCount());
        assertEquals(expected.generatedTokens(), complete[0].tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, complete[0].finishReason());
    }

    @Test
    void streamingAiServiceThroughATokenStream() throws Exception {
        StreamingAssistant assistant = AiServices.create(StreamingAssistant.class, streamingChatModel());
        List<String> partials = new ArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        assistant.chat("Why is the sea salty?")
                .onPartialResponse(partials::add)
                .onCompleteResponse(done::complete)
                .onError(done::completeExceptionally)
                .start();
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        Completion expected = reference("Why is the sea salty?", BASE);
        assertFalse(partials.isEmpty());
        assertEquals(expected.text(), String.join("", partials));
        assertEquals(expected.text(), response.aiMessage().text());
        assertEquals(FinishReason.LENGTH, response.finishReason());
    }

    @Test
    void languageModelContinuesThePromptAsWritten() {
        BloomLanguageModel lm = BloomLanguageModel.builder().model(model).generationConfig(BASE.maxTokens(5))
                .sessionConfig(SESSION).build();
        Response<String> r = lm.generate("The capital of France is");
        Completion expected = reference("The capital of France is", BASE.maxTokens(5));
        assertEquals(expected.text(), r.content());
        assertEquals(expected.promptTokens(), r.tokenUsage().inputTokenCount());
        assertEquals(5, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void streamingLanguageModelStreamsThenCompletesOnce() {
        BloomStreamingLanguageModel lm = BloomStreamingLanguageModel.builder().model(model).generationConfig(BASE)
                .sessionConfig(SESSION).build();
        List<String> events = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        List<Response<String>> completes = new ArrayList<>();
        lm.generate("Once upon a time", new StreamingResponseHandler<>() {
            @Override
            public void onNext(String token) {
                events.add("next");
                text.append(token);
            }

            @Override
            public void onComplete(Response<String> response) {
                events.add("complete");
                completes.add(response);
            }

            @Override
            public void onError(Throwable error) {
                events.add("error " + error);
            }
        });
        Completion expected = reference("Once upon a time", BASE);
        assertEquals(1, completes.size(), events.toString());
        assertEquals("complete", events.getLast());
        assertTrue(events.size() >= 2, events.toString());
        assertEquals(expected.text(), text.toString());
        assertEquals(expected.text(), completes.getFirst().content());
        assertEquals(expected.generatedTokens(), completes.getFirst().tokenUsage().outputTokenCount());
    }

    @Test
    void toolsAreRefusedByName() {
        ChatRequest request = ChatRequest.builder()
                .messages(UserMessage.from("What is the weather?"))
                .toolSpecifications(ToolSpecification.builder().name("weather").description("the weather").build())
                .build();
        var e = assertThrows(UnsupportedFeatureException.class, () -> chatModel().chat(request));
        assertTrue(e.getMessage().contains("toolSpecifications"), e.getMessage());
        var s = assertThrows(UnsupportedFeatureException.class,
                () -> streamingChatModel().chat(request, new FailingHandler()));
        assertTrue(s.getMessage().contains("toolSpecifications"), s.getMessage());
    }

    @Test
    void jsonResponseFormatIsRefusedByName() {
        ChatRequest request = ChatRequest.builder()
                .messages(UserMessage.from("Give me JSON"))
                .responseFormat(ResponseFormat.JSON)
                .build();
        var e = assertThrows(UnsupportedFeatureException.class, () -> chatModel().chat(request));
        assertTrue(e.getMessage().contains("responseFormat JSON"), e.getMessage());
    }

    @Test
    void nonTextContentIsRefused() {
        ChatRequest request = ChatRequest.builder()
                .messages(UserMessage.from(TextContent.from("What is this?"),
                        ImageContent.from("https://example.invalid/cat.png")))
                .build();
        var e = assertThrows(UnsupportedFeatureException.class, () -> chatModel().chat(request));
        assertTrue(e.getMessage().contains("2 content parts"), e.getMessage());
    }

    @Test
    void aCustomTemplateShapesThePromptAndAddsItsStops() {
        var template = BloomChatTemplate.of("{content}\n\n", "User: {content}\n", "Assistant: {content}\n", "",
                "Assistant:", List.of("\nUser:"));
        BloomChatModel chat = BloomChatModel.builder().model(model).generationConfig(BASE).sessionConfig(SESSION)
                .chatTemplate(template).build();
        ChatResponse r = chat.chat(ChatRequest.builder().messages(
                dev.langchain4j.data.message.SystemMessage.from("Be kind."),
                UserMessage.from("Hi"),
                dev.langchain4j.data.message.AiMessage.from("Hello!"),
                UserMessage.from("How are you?")).build());
        Completion expected = reference("Be kind.\n\nUser: Hi\nAssistant: Hello!\nUser: How are you?\nAssistant:",
                BASE.stop("\nUser:"));
        assertEquals(expected.text(), r.aiMessage().text());
        assertEquals(expected.promptTokens(), r.tokenUsage().inputTokenCount());
    }

    @Test
    void aCheckpointWithAJinjaChatTemplateIsNotSilentlyPromptedInAnotherForm() throws IOException {
        Path other = RandomCheckpoint.builder(CONFIG).seed(8).dataType(DataType.F32).build()
                .writeTo(dir.resolve("templated"));
        Files.writeString(other.resolve("tokenizer_config.json"),
                "{\"chat_template\": \"{% for m in messages %}{{ m.content }}{% endfor %}\"}");
        try (BloomModel templated = BloomModel.load(other)) {
            var e = assertThrows(UnsupportedFeatureException.class,
                    () -> BloomChatModel.builder().model(templated).build());
            assertTrue(e.getMessage().contains("chat_template"), e.getMessage());
            assertTrue(e.getMessage().contains("tokenizer_config.json"), e.getMessage());
            // An explicit template is the way on.
            BloomChatModel chat = BloomChatModel.builder().model(templated).sessionConfig(SESSION)
                    .generationConfig(BASE.maxTokens(1)).chatTemplate(BloomChatTemplate.bloomz()).build();
            assertEquals(1, chat.chat(ChatRequest.builder().messages(UserMessage.from("x")).build())
                    .tokenUsage().outputTokenCount());
        }
    }

    @Test
    void aHandlerThatThrowsStopsTheStreamAndGetsOnError() {
        List<String> events = new ArrayList<>();
        RuntimeException boom = new IllegalStateException("enough");
        Throwable[] seen = new Throwable[1];
        streamingChatModel().chat("Tell me a story", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                events.add("partial");
                throw boom;
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                events.add("complete");
            }

            @Override
            public void onError(Throwable error) {
                events.add("error");
                seen[0] = error;
            }
        });
        assertEquals(List.of("partial", "error"), events);
        assertEquals(boom, seen[0]);
    }

    @Test
    void aBuilderWithoutAModelSaysSo() {
        var e = assertThrows(IllegalStateException.class, () -> BloomLanguageModel.builder().build());
        assertTrue(e.getMessage().contains("model"), e.getMessage());
    }

    /** A handler for requests that must be refused before anything streams. */
    private static final class FailingHandler implements StreamingChatResponseHandler {
        @Override
        public void onPartialResponse(String text) {
            throw new AssertionError("no partial response expected, got " + text);
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            throw new AssertionError("no complete response expected");
        }

        @Override
        public void onError(Throwable error) {
            throw new AssertionError("refusal expected as an exception, got onError", error);
        }
    }
}
