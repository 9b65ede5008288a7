package dev.bloom4j.langchain4j;

import dev.bloom4j.Completion;
import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.output.Response;
import java.util.Objects;

/**
 * A LangChain4j {@link LanguageModel} over an in-process {@link dev.bloom4j.BloomModel}: the prompt is continued as
 * written (no template), with the builder's {@link dev.bloom4j.GenerationConfig}, on a fresh session closed after.
 * {@snippet :
 * LanguageModel lm = BloomLanguageModel.builder()
 *         .model(model)
 *         .generationConfig(GenerationConfig.greedy().maxTokens(20))
 *         .build();
 * Response<String> r = lm.generate("The capital of France is");
 * System.out.println(r.content() + " " + r.tokenUsage() + " " + r.finishReason());
 * }
 * Token usage and finish reason as in {@link BloomChatModel}. Thread-safe: each call has its own session.
 */
public final class BloomLanguageModel implements LanguageModel {
    private final BloomGeneration generation;

    private BloomLanguageModel(BloomGeneration generation) {
        this.generation = generation;
    }

    /** A builder; {@link Builder#model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<String> generate(String prompt) {
        Objects.requireNonNull(prompt, "prompt");
        Completion c = generation.generate(prompt, generation.generationConfig(), null);
        return response(c);
    }

    static Response<String> response(Completion c) {
        return Response.from(c.text(), BloomGeneration.tokenUsage(c),
                BloomGeneration.finishReason(c.finishReason()));
    }

    /** Builds a {@link BloomLanguageModel}. */
    public static final class Builder extends BloomModelBuilder<Builder> {
        private Builder() {}

        /** @throws IllegalStateException no model was set */
        public BloomLanguageModel build() {
            return new BloomLanguageModel(generation());
        }
    }
}
