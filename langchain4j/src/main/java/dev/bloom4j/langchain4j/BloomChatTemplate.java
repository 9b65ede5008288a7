package dev.bloom4j.langchain4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.bloom4j.BloomModel;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * How {@link BloomChatModel} and {@link BloomStreamingChatModel} turn LangChain4j messages into one BLOOM prompt.
 *
 * <p>BLOOM has no chat format, and BLOOMZ was tuned on plain instructions ("Translate to English: Je t'aime."), so
 * the default, {@link #bloomz()}, is that plain form: each message's text in order, joined by a newline, nothing
 * added; a single user message is the prompt as it stands. This is the same form as {@code bloom serve}'s default.
 *
 * <p><b>Jinja chat templates are not interpreted.</b> bloom4j has no Jinja engine. When a checkpoint directory's
 * {@code tokenizer_config.json} carries a {@code chat_template}, {@link #forModel(BloomModel)} (what the builders
 * use when given no template) refuses with an {@link UnsupportedFeatureException} rather than silently prompting
 * the model in a form it was not tuned on; write the template's shape as role patterns with {@link #of} instead,
 * or pass {@link #bloomz()} to use the plain form anyway. A GGUF file's {@code tokenizer.chat_template} is not
 * looked at. The BLOOM and BLOOMZ checkpoints published by BigScience carry no chat template.
 * {@snippet :
 * var template = BloomChatTemplate.of("{content}\n\n", "User: {content}\n", "Assistant: {content}\n",
 *         "", "Assistant:", List.of("\nUser:"));
 * ChatModel chat = BloomChatModel.builder().model(model).chatTemplate(template).build();
 * }
 *
 * @param system           pattern of a system message; {@code {content}} stands for its text
 * @param user             pattern of a user message
 * @param assistant        pattern of an assistant (AI) message
 * @param separator        between rendered messages
 * @param generationPrompt after the last message, where the model's answer starts
 * @param stop             stop strings added to every chat request's own
 */
public record BloomChatTemplate(String system, String user, String assistant, String separator,
                                String generationPrompt, List<String> stop) {

    private static final String CONTENT = "{content}";

    /** Validates: every role pattern holds {@code {content}}; stop strings are non-empty. */
    public BloomChatTemplate {
        requirePattern("system", system);
        requirePattern("user", user);
        requirePattern("assistant", assistant);
        Objects.requireNonNull(separator, "separator");
        Objects.requireNonNull(generationPrompt, "generationPrompt");
        stop = List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("chat template stop strings must be non-empty");
            }
        }
    }

    private static void requirePattern(String role, String pattern) {
        if (pattern == null || !pattern.contains(CONTENT)) {
            throw new IllegalArgumentException("the chat template's " + role + " pattern must contain {content}, got "
                    + (pattern == null ? "null" : "\"" + pattern + "\""));
        }
    }

    /** A template from role patterns; see the record's components. */
    public static BloomChatTemplate of(String system, String user, String assistant, String separator,
                                       String generationPrompt, List<String> stop) {
        return new BloomChatTemplate(system, user, assistant, separator, generationPrompt, stop);
    }

    /** BLOOMZ's plain instruction form: the messages' texts joined by newlines, nothing added. */
    public static BloomChatTemplate bloomz() {
        return new BloomChatTemplate(CONTENT, CONTENT, CONTENT, "\n", "", List.of());
    }

    /**
     * The template for a model loaded from a checkpoint: {@link #bloomz()}, unless the checkpoint directory's
     * {@code tokenizer_config.json} has a {@code chat_template}, which bloom4j cannot interpret.
     *
     * @throws UnsupportedFeatureException the checkpoint has a (Jinja) {@code chat_template}; the message says how to
     *                                     go on
     * @throws UncheckedIOException        {@code tokenizer_config.json} exists but cannot be read or parsed
     */
    public static BloomChatTemplate forModel(BloomModel model) {
        Path config = model.path().resolve("tokenizer_config.json");
        if (!Files.isDirectory(model.path()) || !Files.isRegularFile(config)) {
            return bloomz();
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(config.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + config, e);
        }
        JsonNode template = root == null ? null : root.get("chat_template");
        if (template != null && !template.isNull()) {
            throw new UnsupportedFeatureException(config + " has a chat_template (a Jinja template), which bloom4j "
                    + "does not interpret; pass chatTemplate(BloomChatTemplate.of(...)) with its role patterns, or "
                    + "chatTemplate(BloomChatTemplate.bloomz()) for BLOOMZ's plain instruction form");
        }
        return bloomz();
    }

    /**
     * The prompt for these messages.
     *
     * @throws UnsupportedFeatureException a message this template cannot write: tool calls and their results,
     *                                     non-text content (images, audio, ...), custom messages
     */
    public String render(List<ChatMessage> messages) {
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("a chat request needs at least one message");
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < messages.size(); i++) {
            if (i > 0) {
                out.append(separator);
            }
            ChatMessage m = messages.get(i);
            String rendered = switch (m) {
                case SystemMessage s -> system.replace(CONTENT, s.text());
                case UserMessage u -> {
                    if (!u.hasSingleText()) {
                        throw new UnsupportedFeatureException("bloom4j chat models take text only; message " + i
                                + " (user) has " + u.contents().size() + " content parts, not a single text");
                    }
                    yield user.replace(CONTENT, u.singleText());
                }
                case AiMessage a -> {
                    if (a.hasToolExecutionRequests()) {
                        throw new UnsupportedFeatureException("bloom4j chat models do not support tools; message "
                                + i + " (AI) holds tool execution requests");
                    }
                    yield assistant.replace(CONTENT, a.text() == null ? "" : a.text());
                }
                default -> throw new UnsupportedFeatureException("bloom4j chat models do not support "
                        + m.type() + " messages (message " + i + ")");
            };
            out.append(rendered);
        }
        return out.append(generationPrompt).toString();
    }
}
