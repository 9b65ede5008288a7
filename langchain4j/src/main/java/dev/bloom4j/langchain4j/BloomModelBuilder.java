package dev.bloom4j.langchain4j;

import dev.bloom4j.BloomModel;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.SessionConfig;
import java.util.Objects;

/**
 * The settings all four models' builders share. Public methods of this package-private class are reached through
 * the public builders that extend it.
 *
 * @param <B> the concrete builder, returned by every setter
 */
abstract class BloomModelBuilder<B extends BloomModelBuilder<B>> {
    private BloomModel model;
    private GenerationConfig generationConfig = GenerationConfig.greedy();
    private SessionConfig sessionConfig;

    BloomModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /**
     * The model to generate with (required). It stays the caller's: closing it is the caller's business, after the
     * LangChain4j model is no longer used.
     */
    public B model(BloomModel model) {
        this.model = Objects.requireNonNull(model, "model");
        return self();
    }

    /**
     * The generation config every request starts from; parameters a chat request sets (temperature, maxOutputTokens,
     * ...) replace its fields, and its stop strings are kept. Default: {@link GenerationConfig#greedy()}.
     */
    public B generationConfig(GenerationConfig generationConfig) {
        this.generationConfig = Objects.requireNonNull(generationConfig, "generationConfig");
        return self();
    }

    /** The config of the session each request opens. Default: {@link SessionConfig#defaults()}. */
    public B sessionConfig(SessionConfig sessionConfig) {
        this.sessionConfig = Objects.requireNonNull(sessionConfig, "sessionConfig");
        return self();
    }

    BloomModel model() {
        return model;
    }

    BloomGeneration generation() {
        if (model == null) {
            throw new IllegalStateException("model(BloomModel) must be set before build()");
        }
        return new BloomGeneration(model, generationConfig,
                sessionConfig == null ? SessionConfig.defaults() : sessionConfig);
    }
}
