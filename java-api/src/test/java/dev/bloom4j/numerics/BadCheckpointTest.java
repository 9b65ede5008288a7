package dev.bloom4j.numerics;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bloom4j.BloomException;
import dev.bloom4j.BloomModel;
import dev.bloom4j.ModelFormatException;
import dev.bloom4j.ModelNotFoundException;
import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import dev.bloom4j.checkpoint.SafetensorsWriter;
import dev.bloom4j.checkpoint.TensorData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Broken checkpoints: each load fails with the exception of its kind, and the message names the file, the tensor or
 * the key at fault. None may crash the JVM, and a failed load leaves nothing open.
 */
class BadCheckpointTest {
    static final BloomConfig CONFIG = BloomConfig.of(1024, 32, 2, 4);

    @TempDir
    Path dir;

    Path good() throws IOException {
        return RandomCheckpoint.builder(CONFIG).seed(5).dataType(DataType.F32).build().writeTo(dir.resolve("model"));
    }

    static void assertMessage(BloomException e, String... needles) {
        for (String needle : needles) {
            assertTrue(e.getMessage().contains(needle), () -> "message '" + e.getMessage() + "' lacks '" + needle + "'");
        }
    }

    @Test
    void missingDirectory() {
        Path missing = dir.resolve("no-such-model");
        var e = assertThrows(ModelNotFoundException.class, () -> BloomModel.load(missing));
        assertMessage(e, "no-such-model");
    }

    @Test
    void aFileInsteadOfADirectory() throws IOException {
        Path file = Files.writeString(dir.resolve("model.safetensors"), "x");
        var e = assertThrows(ModelNotFoundException.class, () -> BloomModel.load(file));
        assertMessage(e, "not a directory");
    }

    @Test
    void missingConfigTokenizerOrWeights() throws IOException {
        Path model = good();
        for (String name : List.of("config.json", "tokenizer.json", "model.safetensors")) {
            Path saved = Files.move(model.resolve(name), dir.resolve(name + ".saved"));
            var e = assertThrows(ModelNotFoundException.class, () -> BloomModel.load(model));
            assertMessage(e, name);
            Files.move(saved, model.resolve(name));
        }
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path model = good();
        Path weights = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, Arrays.copyOf(bytes, bytes.length - 100));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "model.safetensors", "truncated");
        Files.write(weights, Arrays.copyOf(bytes, 5));
        e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "model.safetensors", "truncated");
    }

    @Test
    void corruptHeader() throws IOException {
        Path model = good();
        Path weights = model.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        bytes[8] = '[';
        bytes[9] = '!';
        Files.write(weights, bytes);
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "model.safetensors", "JSON");
    }

    @Test
    void headerLyingAboutOffsets() throws IOException {
        Path model = good();
        editHeader(model.resolve("model.safetensors"), h -> h.replaceFirst("\"data_offsets\":\\[0,", "\"data_offsets\":[999999999,"));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "model.safetensors", "spans bytes");
    }

    @Test
    void wrongTensorShape() throws IOException {
        Path model = good();
        // config.json claims a bigger hidden size than the tensors have.
        Path config = model.resolve("config.json");
        Files.writeString(config, replaceOnce(Files.readString(config), "\"(n_embed|hidden_size)\": 32(?!\\d)", "\"$1\": 64"));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "word_embeddings.weight", "has shape [1024, 32], expected [1024, 64]");
    }

    @Test
    void missingTensor() throws IOException {
        Path model = good();
        rewrite(model, tensors -> tensors.removeIf(t -> t.name().equals("h.1.mlp.dense_4h_to_h.bias")));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "h.1.mlp.dense_4h_to_h.bias");
    }

    @Test
    void unknownDtype() throws IOException {
        Path model = good();
        // Relabel one F32 tensor as I32 (same size): readable, but not a weight type we run.
        editHeader(model.resolve("model.safetensors"),
                h -> h.replaceFirst("(\"h\\.0\\.self_attention\\.dense\\.weight\":\\{\"dtype\":)\"F32\"", "$1\"I32\""));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "h.0.self_attention.dense.weight", "I32");
    }

    @Test
    void tokenizerLargerThanTheVocabulary() throws IOException {
        Path model = good();
        Path config = model.resolve("config.json");
        Files.writeString(config, replaceOnce(Files.readString(config), "\"vocab_size\": 1024(?!\\d)", "\"vocab_size\": 999"));
        var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "tokenizer.json has 1000 tokens", "999");
    }

    @Test
    void layerNormEpsilonThatIsNotAPositiveFloat32() throws IOException {
        // 1e-50 is positive as a double but 0 as the float32 the model uses (the fuzzer found it: the converter then
        // wrote a GGUF its own loader refused).
        Path model = good();
        Path config = model.resolve("config.json");
        String original = Files.readString(config);
        for (String eps : List.of("1e-50", "0.9999999999", "0", "-1e-5")) {
            Files.writeString(config, replaceOnce(original, "\"layer_norm_epsilon\": [0-9.eE+-]+",
                    "\"layer_norm_epsilon\": " + eps));
            var e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model), eps);
            assertMessage(e, "layer_norm_epsilon", "float32");
        }
    }

    @Test
    void corruptConfigAndTokenizer() throws IOException {
        Path model = good();
        Files.writeString(model.resolve("config.json"), "{\"vocab_size\": 1024,");
        BloomException e = assertThrows(ModelFormatException.class, () -> BloomModel.load(model));
        assertMessage(e, "config.json", "not valid JSON");
        Files.writeString(model.resolve("config.json"), CONFIG.toJson(BloomConfig.KeyStyle.LEGACY, DataType.F32, java.util.Map.of()));
        Files.writeString(model.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Unigram\"}}");
        e = assertThrows(BloomException.class, () -> BloomModel.load(model));
        assertMessage(e, "tokenizer.json");
    }

    static String replaceOnce(String text, String regex, String replacement) {
        String out = text.replaceFirst(regex, replacement);
        if (out.equals(text)) {
            throw new IllegalStateException("no match for " + regex + " in " + text);
        }
        return out;
    }

    /** Rewrites the header JSON of a safetensors file in place, keeping its data section. */
    static void editHeader(Path file, UnaryOperator<String> edit) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8).strip();
        String edited = edit.apply(header);
        if (edited.equals(header)) {
            throw new IllegalStateException("the edit changed nothing in " + header);
        }
        StringBuilder padded = new StringBuilder(edited);
        while ((8 + padded.length()) % 8 != 0) {
            padded.append(' ');
        }
        byte[] h = padded.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + bytes.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(bytes, 8 + (int) n, bytes.length - 8 - (int) n);
        Files.write(file, out.array());
    }

    /** Rewrites model.safetensors from the checkpoint's tensors after an edit of the list. */
    static void rewrite(Path model, java.util.function.Consumer<List<TensorData>> edit) throws IOException {
        RandomCheckpoint ck = RandomCheckpoint.builder(CONFIG).seed(5).dataType(DataType.F32).build();
        List<TensorData> tensors = new ArrayList<>();
        for (String name : ck.tensorNames()) {
            tensors.add(new TensorData(name, ck.shape(name), ck.weight(name)));
        }
        edit.accept(tensors);
        SafetensorsWriter.write(model.resolve(SafetensorsWriter.SINGLE_FILE_NAME), tensors, DataType.F32);
    }
}
