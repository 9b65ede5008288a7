package dev.bloom4j.langchain4j;

import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.Objects;

/**
 * A LangChain4j {@link StreamingChatModel} over an in-process {@link dev.bloom4j.BloomModel}: as
 * {@link BloomChatModel}, with each piece of text handed to
 * {@link StreamingChatResponseHandler#onPartialResponse(String)} as soon as it is final (text that may start a stop
 * string is held back until it is known not to), then the whole answer to
 * {@link StreamingChatResponseHandler#onCompleteResponse} once. The partial responses concatenate to the complete
 * response's text.
 * {@snippet :
 * StreamingChatModel chat = BloomStreamingChatModel.builder().model(model).build();
 * chat.chat("Translate to English: Je t'aime.", new StreamingChatResponseHandler() {
 *     public void onPartialResponse(String text) { System.out.print(text); }
 *     public void onCompleteResponse(ChatResponse r) { System.out.println(" [" + r.finishReason() + "]"); }
 *     public void onError(Throwable e) { e.printStackTrace(); }
 * });
 * }
 *
 * <p>Generation runs on the calling thread: {@code chat} returns after {@code onCompleteResponse} or
 * {@code onError}. A request bloom4j cannot serve (tools, JSON format, non-text content) is refused by throwing an
 * {@link UnsupportedFeatureException} before anything is generated; a failure during generation, and an exception
 * thrown by the handler's {@code onPartialResponse} (which stops the generation), go to {@code onError}.
 * Thread-safe: each call has its own session.
 */
public final class BloomStreamingChatModel implements StreamingChatModel {
    private final BloomGeneration generation;
    private final BloomChatTemplate template;

    private BloomStreamingChatModel(BloomGeneration generation, BloomChatTemplate template) {
        this.generation = generation;
        this.template = template;
    }

    /** A builder; {@link Builder#model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        GenerationConfig config = generation.forChat(request.parameters(), template.stop());
        String prompt = template.render(request.messages());
        Completion c;
        try {
            c = generation.generate(prompt, config, handler::onPartialResponse);
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        handler.onCompleteResponse(BloomChatModel.response(c, generation.modelName()));
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The template this model renders messages with. */
    public BloomChatTemplate chatTemplate() {
        return template;
    }

    /** Builds a {@link BloomStreamingChatModel}. */
    public static final class Builder extends BloomModelBuilder<Builder> {
        private BloomChatTemplate chatTemplate;

        private Builder() {}

        /** As {@link BloomChatModel.Builder#chatTemplate}. */
        public Builder chatTemplate(BloomChatTemplate chatTemplate) {
            this.chatTemplate = Objects.requireNonNull(chatTemplate, "chatTemplate");
            return this;
        }

        /**
         * @throws IllegalStateException       no model was set
         * @throws UnsupportedFeatureException no template was set and the checkpoint has a Jinja chat_template
         */
        public BloomStreamingChatModel build() {
            BloomGeneration g = generation();
            return new BloomStreamingChatModel(g,
                    chatTemplate != null ? chatTemplate : BloomChatTemplate.forModel(model()));
        }
    }
}
