package dev.bloom4j.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.bloom4j.BloomModel;
import dev.bloom4j.GenerationConfig;
import io.helidon.webserver.http.ServerRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads OpenAI request bodies into a {@link Plan}, checking every field it uses: a wrong type, a value out of
 * range or an unsupported feature is a 400 naming the field ({@link ApiException#invalid}), never a 500. Fields it
 * does not know are ignored, as OpenAI's own SDKs send more than a server needs.
 */
final class Requests {
    /** The most stop strings a request may give (OpenAI allows 4; llama-server more). */
    static final int MAX_STOP = 16;
    /** The most prompts in one completions request. */
    static final int MAX_PROMPTS = 64;
    /** OpenAI's defaults: completions stop after 16 tokens; sampling at temperature 1. */
    static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;
    /** Below this a positive temperature overflows the scaled logits (float) and sampling is undefined. */
    static final double MIN_TEMPERATURE = 1e-3;

    private Requests() {
    }

    /**
     * What to generate for one request.
     *
     * @param prompts      the prompts, tokenized
     * @param texts        their text (for echo)
     * @param config       the generation config of one choice (n = 1; samples use n)
     * @param n            choices per prompt
     * @param stream       answer with server-sent events
     * @param includeUsage a last chunk with usage ({@code stream_options.include_usage})
     * @param echo         the prompt precedes each choice's text (completions)
     * @param logprobs     top alternatives per token: -1 none, 0 the token's own only
     */
    record Plan(List<int[]> prompts, List<String> texts, GenerationConfig config, int n, boolean stream,
                boolean includeUsage, boolean echo, int logprobs) {}

    static JsonNode body(ServerRequest req) {
        byte[] bytes = req.content().hasEntity() ? req.content().as(byte[].class) : new byte[0];
        if (bytes.length == 0) {
            throw ApiException.invalid(null, "the request body is empty; send a JSON object");
        }
        JsonNode root;
        try {
            root = BloomServer.JSON.readTree(bytes);
        } catch (JacksonException e) {
            throw ApiException.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ApiException.invalid(null, "the request body could not be read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw ApiException.invalid(null, "the request body must be a JSON object");
        }
        return root;
    }

    /** {@code POST /v1/completions}. */
    static Plan completion(JsonNode body, BloomModel model) {
        int vocab = model.info().vocabularySize();
        JsonNode prompt = body.get("prompt");
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        if (prompt == null || prompt.isNull()) {
            throw ApiException.invalid("prompt", "\"prompt\" is required: a string, an array of token ids, or an "
                    + "array of either");
        } else if (prompt.isTextual()) {
            addText(prompts, texts, prompt.asText(), model);
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            int[] ids = tokenIds(prompt, "prompt", vocab);
            prompts.add(ids);
            texts.add(model.decode(ids, false));
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            if (prompt.size() > MAX_PROMPTS) {
                throw ApiException.invalid("prompt", "at most " + MAX_PROMPTS + " prompts per request, got "
                        + prompt.size());
            }
            for (JsonNode p : prompt) {
                if (p.isTextual()) {
                    addText(prompts, texts, p.asText(), model);
                } else if (p.isArray()) {
                    int[] ids = tokenIds(p, "prompt", vocab);
                    prompts.add(ids);
                    texts.add(model.decode(ids, false));
                } else {
                    throw ApiException.invalid("prompt", "each prompt of the array must be a string or an array "
                            + "of token ids, got " + p.getNodeType().toString().toLowerCase());
                }
            }
        } else {
            throw ApiException.invalid("prompt", "\"prompt\" must be a non-empty string, an array of token ids, or "
                    + "an array of either");
        }
        if (notNullOrEmpty(body, "suffix")) {
            throw ApiException.invalid("suffix", "\"suffix\" (insertion) is not supported by this model");
        }
        int n = integer(body, "n", 1, 1, 256);
        if (body.has("best_of") && !body.get("best_of").isNull() && integer(body, "best_of", n, 1, 256) != n) {
            throw ApiException.invalid("best_of", "\"best_of\" other than n is not supported");
        }
        boolean echo = bool(body, "echo", false);
        int logprobs = body.has("logprobs") && !body.get("logprobs").isNull()
                ? integer(body, "logprobs", 0, 0, GenerationConfig.MAX_LOGPROBS) : -1;
        if (echo && logprobs >= 0) {
            throw ApiException.invalid("echo", "\"echo\" together with \"logprobs\" (the prompt's log-probabilities) "
                    + "is not supported; ask for one of them");
        }
        GenerationConfig config = sampling(body, integer(body, "max_tokens", COMPLETION_DEFAULT_MAX_TOKENS, 0,
                Integer.MAX_VALUE), List.of(), logprobs);
        return plan(body, prompts, texts, config, n, echo, logprobs);
    }

    /** {@code POST /v1/chat/completions}. */
    static Plan chat(JsonNode body, ServerConfig server, BloomModel model) {
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiException.invalid("messages", "\"messages\" must be a non-empty array of {role, content}");
        }
        List<ChatTemplate.Message> list = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            list.add(message(messages.get(i), i));
        }
        if (notNullOrEmpty(body, "tools") || notNullOrEmpty(body, "functions")) {
            throw ApiException.invalid("tools", "tools and function calling are not supported by this model");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull() && !"text".equals(format.path("type").asText())) {
            throw ApiException.invalid("response_format", "only response_format {\"type\": \"text\"} is supported");
        }
        String prompt = server.chatTemplate().render(list);
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        addText(prompts, texts, prompt, model);
        boolean logprobs = bool(body, "logprobs", false);
        int top = body.has("top_logprobs") && !body.get("top_logprobs").isNull()
                ? integer(body, "top_logprobs", 0, 0, 20) : 0;
        if (top > 0 && !logprobs) {
            throw ApiException.invalid("top_logprobs", "\"top_logprobs\" needs \"logprobs\": true");
        }
        int maxTokens = body.has("max_completion_tokens") && !body.get("max_completion_tokens").isNull()
                ? integer(body, "max_completion_tokens", 0, 0, Integer.MAX_VALUE)
                : integer(body, "max_tokens", server.defaultMaxTokens(), 0, Integer.MAX_VALUE);
        int n = integer(body, "n", 1, 1, 256);
        GenerationConfig config = sampling(body, maxTokens, server.chatTemplate().stop(), logprobs ? top : -1);
        return plan(body, prompts, texts, config, n, false, logprobs ? top : -1);
    }

    private static ChatTemplate.Message message(JsonNode m, int i) {
        String where = "messages[" + i + "]";
        if (m == null || !m.isObject()) {
            throw ApiException.invalid(where, where + " must be an object {role, content}");
        }
        String role = m.path("role").asText("");
        if (role.equals("developer")) {
            role = "system"; // OpenAI's newer name for system instructions
        }
        if (!ChatTemplate.knows(role)) {
            throw ApiException.invalid(where + ".role", where + ".role must be system, developer, user or "
                    + "assistant, got " + m.path("role"));
        }
        JsonNode content = m.get("content");
        if (content != null && content.isTextual()) {
            return new ChatTemplate.Message(role, checkText(where + ".content", content.asText()));
        }
        if (content != null && content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(where + ".content", "only text content parts are supported "
                            + "({\"type\": \"text\", \"text\": ...})");
                }
                text.append(checkText(where + ".content", part.get("text").asText()));
            }
            return new ChatTemplate.Message(role, text.toString());
        }
        throw ApiException.invalid(where + ".content", where + ".content must be a string or an array of text "
                + "parts");
    }

    /** The sampling fields both endpoints share, OpenAI's defaults where a field is absent. */
    private static GenerationConfig sampling(JsonNode body, int maxTokens, List<String> extraStop, int logprobs) {
        List<String> stop = new ArrayList<>(extraStop);
        JsonNode s = body.get("stop");
        if (s != null && !s.isNull()) {
            if (s.isTextual()) {
                stop.add(checkText("stop", s.asText()));
            } else if (s.isArray()) {
                if (s.size() > MAX_STOP) {
                    throw ApiException.invalid("stop", "at most " + MAX_STOP + " stop strings, got " + s.size());
                }
                for (JsonNode e : s) {
                    if (!e.isTextual()) {
                        throw ApiException.invalid("stop", "\"stop\" must be a string or an array of strings");
                    }
                    stop.add(checkText("stop", e.asText()));
                }
            } else {
                throw ApiException.invalid("stop", "\"stop\" must be a string or an array of strings");
            }
        }
        stop.removeIf(String::isEmpty);
        if (notNullOrEmpty(body, "logit_bias")) {
            throw ApiException.invalid("logit_bias", "\"logit_bias\" is not supported");
        }
        long seed = body.has("seed") && !body.get("seed").isNull() ? longValue(body, "seed")
                : ThreadLocalRandom.current().nextLong(1L << 53);
        double temperature = number(body, "temperature", 1.0, 0, 100);
        if (temperature > 0 && temperature < MIN_TEMPERATURE) {
            throw ApiException.invalid("temperature", "\"temperature\" must be 0 (greedy) or at least "
                    + MIN_TEMPERATURE + ", got " + temperature);
        }
        GenerationConfig.Builder config = GenerationConfig.builder()
                .maxTokens(maxTokens)
                .temperature(temperature)
                .topP(number(body, "top_p", 1.0, Double.MIN_VALUE, 1))
                .topK(integer(body, "top_k", 0, 0, Integer.MAX_VALUE))
                .minP(number(body, "min_p", 0.0, 0, 1))
                .presencePenalty(number(body, "presence_penalty", 0.0, -2, 2))
                .frequencyPenalty(number(body, "frequency_penalty", 0.0, -2, 2))
                .repetitionPenalty(number(body, "repetition_penalty", 1.0, Double.MIN_VALUE, 100))
                .penaltyLastN(-1)
                .seed(seed)
                .stop(stop)
                .ignoreEos(bool(body, "ignore_eos", false))
                .n(1)
                .logprobs(logprobs);
        try {
            return config.build();
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, e.getMessage()); // e.g. a value that rounds to 0 as a float
        }
    }

    private static Plan plan(JsonNode body, List<int[]> prompts, List<String> texts, GenerationConfig config,
                             int n, boolean echo, int logprobs) {
        boolean stream = bool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode options = body.get("stream_options");
        if (options != null && !options.isNull()) {
            if (!options.isObject()) {
                throw ApiException.invalid("stream_options", "\"stream_options\" must be an object");
            }
            includeUsage = bool(options, "include_usage", false);
        }
        return new Plan(List.copyOf(prompts), List.copyOf(texts), config, n, stream, includeUsage, echo, logprobs);
    }

    private static void addText(List<int[]> prompts, List<String> texts, String text, BloomModel model) {
        int[] ids = model.tokenize(checkText("prompt", text));
        if (ids.length == 0) {
            throw ApiException.invalid("prompt", "the prompt is empty: it needs at least one token");
        }
        prompts.add(ids);
        texts.add(text);
    }

    /**
     * The text, if it is well-formed UTF-16: JSON allows an unpaired surrogate ({@code "\ud800"}), which has no UTF-8
     * form to tokenize or match.
     */
    static String checkText(String field, String text) {
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            if (Character.isHighSurrogate(ch) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(ch)) {
                throw ApiException.invalid(field, "\"" + field + "\" holds an unpaired UTF-16 surrogate (U+"
                        + Integer.toHexString(ch).toUpperCase() + ") at index " + i + ": not text");
            }
        }
        return text;
    }

    /** An array of token ids in [0, vocab); null when the node is absent. */
    static int[] tokenIds(JsonNode node, String field, int vocab) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isArray()) {
            throw ApiException.invalid(field, "\"" + field + "\" must be an array of token ids");
        }
        int[] ids = new int[node.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = node.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0 || e.asInt() >= vocab) {
                throw ApiException.invalid(field, "token id " + e + " at index " + i + " is not in [0, " + vocab
                        + ")");
            }
            ids[i] = e.asInt();
        }
        return ids;
    }

    static String string(JsonNode body, String field, String fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isTextual()) {
            throw ApiException.invalid(field, "\"" + field + "\" must be a string");
        }
        return v.asText();
    }

    static boolean bool(JsonNode body, String field, boolean fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isBoolean()) {
            throw ApiException.invalid(field, "\"" + field + "\" must be true or false, got " + v);
        }
        return v.asBoolean();
    }

    static int integer(JsonNode body, String field, int fallback, int min, int max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
            throw ApiException.invalid(field, "\"" + field + "\" must be an integer in [" + min + ", "
                    + (max == Integer.MAX_VALUE ? "2^31)" : max + "]") + ", got " + v);
        }
        return v.asInt();
    }

    private static long longValue(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw ApiException.invalid(field, "\"" + field + "\" must be a 64-bit integer, got " + v);
        }
        return v.asLong();
    }

    static double number(JsonNode body, String field, double fallback, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble()) || v.asDouble() < min || v.asDouble() > max) {
            String low = min == Double.MIN_VALUE ? "(0" : "[" + min;
            throw ApiException.invalid(field, "\"" + field + "\" must be a number in " + low + ", " + max + "], got "
                    + v);
        }
        return v.asDouble();
    }

    private static boolean notNullOrEmpty(JsonNode body, String field) {
        JsonNode v = body.get(field);
        return v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty())
                && !(v.isTextual() && v.asText().isEmpty());
    }
}
