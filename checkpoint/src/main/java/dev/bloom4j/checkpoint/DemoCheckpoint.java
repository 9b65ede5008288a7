package dev.bloom4j.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A small BLOOM model with random weights that the CLI and examples can run without downloading anything. It
 * produces fluent-looking nonsense; its {@code config.json} carries {@value #MARKER_KEY}{@code : true} and a note
 * so tools can say it is not a trained model.
 *
 * <p>Shape: 2 layers, hidden size 64, 4 heads, vocabulary 1024 (the bundled tokenizer's 1000 tokens padded to a
 * multiple of 128, as BLOOM pads 250,680 tokens to 250,880), F32, tied head, tensor names without prefix and the
 * key spelling of {@code bigscience/bloom-560m}; about 165 thousand parameters, under a megabyte on disk.
 *
 * <pre>{@code
 * Path model = DemoCheckpoint.ensure(DemoCheckpoint.defaultCacheDirectory());
 * if (DemoCheckpoint.isDemo(model)) System.err.println("note: " + DemoCheckpoint.LABEL);
 * }</pre>
 */
public final class DemoCheckpoint {

    /** {@code config.json} key whose value {@code true} marks the demo model. */
    public static final String MARKER_KEY = "bloom4j_demo";

    /** What a tool should tell the user about the demo model. */
    public static final String LABEL = "random weights, demo only";

    /**
     * Name of the model directory inside the cache directory. The version suffix changes whenever the demo's
     * contents change, so an old cached copy is never mistaken for the current one.
     */
    public static final String DIRECTORY_NAME = "bloom4j-demo-v1";

    /** The demo model's hyper-parameters. */
    public static final BloomConfig CONFIG = BloomConfig.of(1024, 64, 2, 4).withSequenceLength(512);

    /** Seed of the demo weights; fixed so every machine gets the same demo. */
    public static final long SEED = 20220711L;

    private static final Pattern MARKER = Pattern.compile("\"" + MARKER_KEY + "\"\\s*:\\s*true");

    private DemoCheckpoint() {
    }

    /**
     * The demo model's directory inside {@code cacheDirectory}, created on first use. Creation is atomic: the model
     * is written to a temporary sibling directory and renamed into place, so a concurrent or interrupted run never
     * leaves a half-written model behind, and two processes racing both end up with the same complete directory.
     *
     * @return {@code cacheDirectory/}{@value #DIRECTORY_NAME}
     * @throws IllegalStateException if the bundled tokenizer resource is missing from the class path
     */
    public static Path ensure(Path cacheDirectory) throws IOException {
        Path target = cacheDirectory.resolve(DIRECTORY_NAME);
        if (isComplete(target)) {
            return target;
        }
        Files.createDirectories(cacheDirectory);
        Path temporary = Files.createTempDirectory(cacheDirectory, DIRECTORY_NAME + ".partial-");
        try {
            Path staged = temporary.resolve("model");
            checkpoint().writeTo(staged);
            try {
                Files.move(staged, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileSystemException e) {
                // Another process may have finished first; its copy is identical, so use it.
                if (!isComplete(target)) {
                    throw e;
                }
            }
        } finally {
            deleteRecursively(temporary);
        }
        if (!isComplete(target)) {
            throw new IOException("demo model directory " + target + " exists but is incomplete; delete it and retry");
        }
        return target;
    }

    /** The demo model as an unwritten {@link RandomCheckpoint}. */
    public static RandomCheckpoint checkpoint() {
        return RandomCheckpoint.builder(CONFIG)
                .seed(SEED)
                .dataType(DataType.F32)
                .keyStyle(BloomConfig.KeyStyle.LEGACY)
                .bundledTokenizer()
                .extraConfig(MARKER_KEY, true)
                .extraConfig("bloom4j_note", LABEL)
                .build();
    }

    /**
     * Whether the checkpoint in {@code modelDirectory} is a demo model, i.e. its {@code config.json} has
     * {@value #MARKER_KEY}{@code : true}. A directory without a readable {@code config.json} is not one.
     */
    public static boolean isDemo(Path modelDirectory) {
        Path config = modelDirectory.resolve(BloomConfig.FILE_NAME);
        try {
            return MARKER.matcher(Files.readString(config, StandardCharsets.UTF_8)).find();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The per-user cache directory for bloom4j: {@code $XDG_CACHE_HOME/bloom4j} if that variable is set to an
     * absolute path, else {@code ~/.cache/bloom4j}.
     */
    public static Path defaultCacheDirectory() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isEmpty() && Path.of(xdg).isAbsolute()) {
            return Path.of(xdg, "bloom4j");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "bloom4j");
    }

    private static boolean isComplete(Path directory) {
        // The rename publishes the directory with all files at once, so these three existing means it is whole.
        return Files.isRegularFile(directory.resolve(BloomConfig.FILE_NAME))
                && Files.isRegularFile(directory.resolve(SafetensorsWriter.SINGLE_FILE_NAME))
                && Files.isRegularFile(directory.resolve(RandomCheckpoint.TOKENIZER_FILE_NAME));
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
