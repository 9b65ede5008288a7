package dev.bloom4j.langchain4j;

import dev.bloom4j.Completion;
import dev.bloom4j.GenerationConfig;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.Objects;

/**
 * A LangChain4j {@link ChatModel} over an in-process {@link dev.bloom4j.BloomModel}: the messages become one prompt
 * through a {@link BloomChatTemplate}, and the answer is generated on a fresh session, closed after.
 * {@snippet :
 * try (BloomModel model = BloomModel.load(Path.of("bloomz-560m"))) {
 *     ChatModel chat = BloomChatModel.builder()
 *             .model(model)
 *             .generationConfig(GenerationConfig.greedy().maxTokens(64))
 *             .build();
 *     Assistant assistant = AiServices.create(Assistant.class, chat);
 *     System.out.println(assistant.chat("Translate to English: Je t'aime."));
 * }
 * }
 *
 * <p>Request parameters: {@code temperature}, {@code topP}, {@code topK}, {@code presencePenalty},
 * {@code frequencyPenalty}, {@code maxOutputTokens} and {@code stopSequences} are honoured; {@code modelName} is
 * ignored (the model is the one given); tool specifications, {@code toolChoice REQUIRED} and a JSON response format
 * are refused with an {@link UnsupportedFeatureException} naming them. Token usage is the prompt's tokens and the
 * generated tokens (the end-of-sequence token counted); the finish reason is {@code STOP} for the end-of-sequence
 * token or a stop string, {@code LENGTH} for {@code maxOutputTokens} or a full context, {@code OTHER} when
 * cancelled.
 *
 * <p>Thread-safe: each call has its own session.
 */
public final class BloomChatModel implements ChatModel {
    private final BloomGeneration generation;
    private final BloomChatTemplate template;

    private BloomChatModel(BloomGeneration generation, BloomChatTemplate template) {
        this.generation = generation;
        this.template = template;
    }

    /** A builder; {@link Builder#model} is required. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        Objects.requireNonNull(request, "request");
        GenerationConfig config = generation.forChat(request.parameters(), template.stop());
        String prompt = template.render(request.messages());
        Completion c = generation.generate(prompt, config, null);
        return response(c, generation.modelName());
    }

    static ChatResponse response(Completion c, String modelName) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(c.text()))
                .modelName(modelName)
                .tokenUsage(BloomGeneration.tokenUsage(c))
                .finishReason(BloomGeneration.finishReason(c.finishReason()))
                .build();
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The template this model renders messages with. */
    public BloomChatTemplate chatTemplate() {
        return template;
    }

    /** Builds a {@link BloomChatModel}. */
    public static final class Builder extends BloomModelBuilder<Builder> {
        private BloomChatTemplate chatTemplate;

        private Builder() {}

        /**
         * How messages become a prompt. Default: {@link BloomChatTemplate#forModel}, i.e. BLOOMZ's plain instruction
         * form, refused when the checkpoint has a Jinja {@code chat_template} (which bloom4j does not interpret).
         */
        public Builder chatTemplate(BloomChatTemplate chatTemplate) {
            this.chatTemplate = Objects.requireNonNull(chatTemplate, "chatTemplate");
            return this;
        }

        /**
         * @throws IllegalStateException       no model was set
         * @throws UnsupportedFeatureException no template was set and the checkpoint has a Jinja chat_template
         */
        public BloomChatModel build() {
            BloomGeneration g = generation();
            return new BloomChatModel(g, chatTemplate != null ? chatTemplate : BloomChatTemplate.forModel(model()));
        }
    }
}
