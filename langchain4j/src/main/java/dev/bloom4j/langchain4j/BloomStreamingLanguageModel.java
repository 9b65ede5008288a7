package dev.bloom4j.langchain4j;

import dev.bloom4j.Completion;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.language.StreamingLanguageModel;
import java.util.Objects;

/**
 * A LangChain4j {@link StreamingLanguageModel} over an in-process {@link dev.bloom4j.BloomModel}: as
 * {@link BloomLanguageModel}, with each piece of final text handed to {@link StreamingResponseHandler#onNext} and
 * then the whole response to {@link StreamingResponseHandler#onComplete} once; the pieces concatenate to its
 * content.
 * {@snippet :
 * StreamingLanguageModel lm = BloomStreamingLanguageModel.builder().model(model).build();
 * lm.generate("Once upon a time", new StreamingResponseHandler<String>() {
 *     public void onNext(String text) { System.out.print(text); }
 *     public void onComplete(Response<String> r) { System.out.println(); }
 *     public void onError(Throwable e) { e.printStackTrace(); }
 * });
 * }
 * Generation runs on the calling thread; a failure during it, and an exception thrown by {@code onNext} (which stops
 * the generation), go to {@code onError}. Thread-safe: each call has its own session.
 */
public final class BloomStreamingLanguageModel implements StreamingLanguageModel {
    private final BloomGeneration generation;

    private BloomStreamingLanguageModel(BloomGeneration generation) {
        this.generation = generation;
    }

    /** A builder; {@link Builder#model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void generate(String prompt, StreamingResponseHandler<String> handler) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(handler, "handler");
        Completion c;
        try {
            c = generation.generate(prompt, generation.generationConfig(), handler::onNext);
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        handler.onComplete(BloomLanguageModel.response(c));
    }

    /** Builds a {@link BloomStreamingLanguageModel}. */
    public static final class Builder extends BloomModelBuilder<Builder> {
        private Builder() {}

        /** @throws IllegalStateException no model was set */
        public BloomStreamingLanguageModel build() {
            return new BloomStreamingLanguageModel(generation());
        }
    }
}
