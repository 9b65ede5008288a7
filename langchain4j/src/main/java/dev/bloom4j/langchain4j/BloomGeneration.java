package dev.bloom4j.langchain4j;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomSession;
import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What the four LangChain4j models share: a model, the generation and session configs they start from, and one
 * generation on a fresh session. A {@link BloomModel} serves any number of threads; a {@link BloomSession} one at a
 * time, so each call opens its own and closes it after, which makes every model here safe to share between threads.
 */
record BloomGeneration(BloomModel model, GenerationConfig generationConfig, SessionConfig sessionConfig) {

    BloomGeneration {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(generationConfig, "generationConfig");
        Objects.requireNonNull(sessionConfig, "sessionConfig");
    }

    /** The name responses report: the checkpoint directory's or GGUF file's name. */
    String modelName() {
        var name = model.path().getFileName();
        return name == null ? model.path().toString() : name.toString();
    }

    /**
     * Generates on a fresh session, handing each non-empty piece of final text to {@code onText} (may be null).
     */
    Completion generate(String prompt, GenerationConfig config, Consumer<String> onText) {
        try (BloomSession session = model.newSession(sessionConfig)) {
            return onText == null ? session.generate(prompt, config) : session.generate(prompt, config, onText);
        }
    }

    /**
     * The generation config for a chat request: the base one with every parameter the request sets laid over it, and
     * the template's stop strings and the request's added to the base's.
     *
     * @throws UnsupportedFeatureException the request asks for tools or a JSON response format
     */
    GenerationConfig forChat(ChatRequestParameters p, List<String> templateStop) {
        List<String> unsupported = new ArrayList<>();
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty()) {
            unsupported.add("toolSpecifications");
        }
        if (p.toolChoice() == ToolChoice.REQUIRED) {
            unsupported.add("toolChoice REQUIRED");
        }
        if (p.responseFormat() != null && p.responseFormat().type() != ResponseFormatType.TEXT) {
            unsupported.add("responseFormat " + p.responseFormat().type()
                    + (p.responseFormat().jsonSchema() != null ? " (JSON schema)" : ""));
        }
        if (!unsupported.isEmpty()) {
            throw new UnsupportedFeatureException("bloom4j does not support " + String.join(", ", unsupported)
                    + ": BLOOM generates plain text, with no tool calling or constrained (JSON) output");
        }
        GenerationConfig.Builder b = generationConfig.toBuilder();
        if (p.temperature() != null) {
            b.temperature(p.temperature());
        }
        if (p.topP() != null) {
            b.topP(p.topP());
        }
        if (p.topK() != null) {
            b.topK(p.topK());
        }
        if (p.presencePenalty() != null) {
            b.presencePenalty(p.presencePenalty());
        }
        if (p.frequencyPenalty() != null) {
            b.frequencyPenalty(p.frequencyPenalty());
        }
        if (p.maxOutputTokens() != null) {
            b.maxTokens(p.maxOutputTokens());
        }
        templateStop.forEach(b::addStop);
        if (p.stopSequences() != null) {
            p.stopSequences().forEach(b::addStop);
        }
        return b.build();
    }

    /** Prompt tokens in, generated tokens out (the end-of-sequence token counted, as bloom4j counts it). */
    static TokenUsage tokenUsage(Completion c) {
        return new TokenUsage(c.promptTokens(), c.generatedTokens());
    }

    /**
     * bloom4j's finish reason in LangChain4j's terms: the end-of-sequence token and a stop string are both
     * {@code STOP}; {@code maxTokens} and a full context (the answer was cut short by a limit, as OpenAI reports
     * it) are {@code LENGTH}; a cancelled generation is {@code OTHER}.
     */
    static FinishReason finishReason(dev.bloom4j.FinishReason reason) {
        return switch (reason) {
            case EOS, STOP -> FinishReason.STOP;
            case LENGTH, CONTEXT_FULL -> FinishReason.LENGTH;
            case CANCELLED -> FinishReason.OTHER;
        };
    }
}
