package dev.bloom4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How {@code /v1/chat/completions} turns messages into a prompt. BLOOM has no chat format, and BLOOMZ was tuned on
 * plain instructions ("Translate to English: Je t'aime."), so the default, {@link #bloomz()}, is that plain form:
 * each message's content in order, joined by a newline, nothing added; a single user message is the prompt as it
 * stands.
 *
 * <p>{@code bloom serve --chat-template FILE} reads another from a JSON file; each role's pattern puts the message
 * where {@code {content}} stands, and every field is optional (missing ones keep the default's):
 * {@snippet lang=json :
 * {
 *   "system": "{content}\n\n",
 *   "user": "User: {content}\n",
 *   "assistant": "Assistant: {content}\n",
 *   "separator": "",
 *   "generation_prompt": "Assistant:",
 *   "stop": ["\nUser:"]
 * }
 * }
 * The prompt is the rendered messages joined by {@code separator}, then {@code generation_prompt}; {@code stop}
 * strings are added to every chat request's own.
 *
 * @param patterns         role ({@code system}, {@code user}, {@code assistant}) to its pattern
 * @param separator        between rendered messages
 * @param generationPrompt after the last message, where the model's answer starts
 * @param stop             stop strings added to each chat request
 */
public record ChatTemplate(Map<String, String> patterns, String separator, String generationPrompt,
                           List<String> stop) {

    private static final List<String> ROLES = List.of("system", "user", "assistant");

    public ChatTemplate {
        patterns = Map.copyOf(patterns);
        Objects.requireNonNull(separator, "separator");
        Objects.requireNonNull(generationPrompt, "generationPrompt");
        stop = List.copyOf(stop);
        for (String role : ROLES) {
            String p = patterns.get(role);
            if (p == null || !p.contains("{content}")) {
                throw new IllegalArgumentException("the chat template's \"" + role + "\" pattern must contain "
                        + "{content}, got " + (p == null ? "none" : "\"" + p + "\""));
            }
        }
    }

    /** BLOOMZ's plain instruction form: the contents joined by newlines, nothing added. */
    public static ChatTemplate bloomz() {
        return new ChatTemplate(Map.of("system", "{content}", "user", "{content}", "assistant", "{content}"),
                "\n", "", List.of());
    }

    /**
     * Reads a template file (the JSON above); fields it lacks keep {@link #bloomz()}'s.
     *
     * @throws IOException              the file cannot be read
     * @throws IllegalArgumentException it is not such a JSON object, naming what is wrong
     */
    public static ChatTemplate read(Path file) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IllegalArgumentException("chat template " + file + " is not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("chat template " + file + " must hold a JSON object");
        }
        ChatTemplate base = bloomz();
        var patterns = new java.util.HashMap<>(base.patterns);
        for (String role : ROLES) {
            if (root.has(role)) {
                patterns.put(role, text(root, role, file));
            }
        }
        String separator = root.has("separator") ? text(root, "separator", file) : base.separator;
        String generation = root.has("generation_prompt") ? text(root, "generation_prompt", file)
                : base.generationPrompt;
        List<String> stop = new ArrayList<>(base.stop);
        if (root.has("stop")) {
            JsonNode s = root.get("stop");
            if (!s.isArray()) {
                throw new IllegalArgumentException("chat template " + file + ": \"stop\" must be an array of strings");
            }
            for (JsonNode e : s) {
                if (!e.isTextual() || e.asText().isEmpty()) {
                    throw new IllegalArgumentException("chat template " + file + ": \"stop\" entries must be "
                            + "non-empty strings");
                }
                stop.add(e.asText());
            }
        }
        var known = new java.util.HashSet<>(ROLES);
        known.addAll(List.of("separator", "generation_prompt", "stop"));
        for (var it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!known.contains(name)) {
                throw new IllegalArgumentException("chat template " + file + ": unknown field \"" + name
                        + "\" (known: " + String.join(", ", known.stream().sorted().toList()) + ")");
            }
        }
        return new ChatTemplate(patterns, separator, generation, stop);
    }

    private static String text(JsonNode root, String field, Path file) {
        JsonNode n = root.get(field);
        if (!n.isTextual()) {
            throw new IllegalArgumentException("chat template " + file + ": \"" + field + "\" must be a string");
        }
        return n.asText();
    }

    /** One chat message. */
    record Message(String role, String content) {}

    /** The prompt for these messages. */
    String render(List<Message> messages) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < messages.size(); i++) {
            Message m = messages.get(i);
            if (i > 0) {
                out.append(separator);
            }
            out.append(patterns.get(m.role()).replace("{content}", m.content()));
        }
        return out.append(generationPrompt).toString();
    }

    /** Whether the template knows this role. */
    static boolean knows(String role) {
        return ROLES.contains(role);
    }
}
