package dev.bloom4j;

import dev.bloom4j.checkpoint.BloomConfig;
import dev.bloom4j.checkpoint.DataType;
import dev.bloom4j.checkpoint.RandomCheckpoint;
import dev.bloom4j.checkpoint.SafetensorsWriter;
import dev.bloom4j.checkpoint.TensorData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Tiny random checkpoints for API tests: 1024-row embedding (the bundled 1000-token tokenizer plus padding ids),
 * hidden size 64, 2 layers, 4 heads. They load in milliseconds, and their output is gibberish, which is all these
 * tests need: they check the API's contracts, not the numerics (the lead's reference tests do that).
 */
final class TinyModels {
    static final BloomConfig CONFIG = BloomConfig.of(1024, 64, 2, 4).withSequenceLength(256);
    static final int EOS = CONFIG.eosTokenId();

    private TinyModels() {}

    /** A random-weight checkpoint written into {@code directory}. */
    static Path random(Path directory, long seed, DataType type) {
        try {
            return RandomCheckpoint.builder(CONFIG).seed(seed).dataType(type).build().writeTo(directory);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A checkpoint whose greedy choice is always the end-of-sequence token. The final layer norm's weight is zeroed,
     * so every hidden state becomes its bias; the bias is set to the EOS embedding row, and that row is scaled up
     * tenfold. With the output projection tied to the embeddings, the logit of token j is then E[j]·E[eos], and
     * Cauchy-Schwarz makes EOS the maximum because its row has by far the largest norm.
     */
    static Path alwaysEos(Path directory, long seed) {
        try {
            RandomCheckpoint checkpoint = RandomCheckpoint.builder(CONFIG).seed(seed).dataType(DataType.F32).build();
            checkpoint.writeTo(directory);
            int hidden = CONFIG.hiddenSize();
            float[] embeddings = checkpoint.weight("word_embeddings.weight").clone();
            for (int i = 0; i < hidden; i++) {
                embeddings[EOS * hidden + i] *= 10;
            }
            float[] eosRow = new float[hidden];
            System.arraycopy(embeddings, EOS * hidden, eosRow, 0, hidden);
            List<TensorData> tensors = new ArrayList<>();
            for (String name : checkpoint.tensorNames()) {
                float[] values = switch (name) {
                    case "word_embeddings.weight" -> embeddings;
                    case "ln_f.weight" -> new float[hidden];
                    case "ln_f.bias" -> eosRow;
                    default -> checkpoint.weight(name);
                };
                tensors.add(new TensorData(checkpoint.storedName(name), checkpoint.shape(name), values));
            }
            SafetensorsWriter.write(directory.resolve(SafetensorsWriter.SINGLE_FILE_NAME), tensors, DataType.F32);
            return directory;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A session config small enough to keep tests cheap on a shared 2-core machine. */
    static SessionConfig session(int contextSize) {
        return SessionConfig.builder().contextSize(contextSize).batchSize(64).threads(1).build();
    }

    /** {@link #session(int)} for a batch session of {@code maxSequences}. */
    static SessionConfig batchSession(int contextSize, int maxSequences) {
        return session(contextSize).toBuilder().maxSequences(maxSequences).build();
    }

    /** A prompt of random ids from the tiny tokenizer's vocabulary, past its special tokens. */
    static int[] randomPrompt(java.util.Random random, int length) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) {
            ids[i] = 3 + random.nextInt(990);
        }
        return ids;
    }
}
