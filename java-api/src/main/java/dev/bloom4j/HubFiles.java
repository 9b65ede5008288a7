package dev.bloom4j;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which files of a hub repository bloom4j needs: the choice made from a list of file names (the hub's
 * {@code siblings}, or what a cached snapshot holds), with no I/O. One place for both the online and offline paths.
 */
final class HubFiles {

    static final String CONFIG = "config.json";
    static final String TOKENIZER = "tokenizer.json";
    static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    static final String SAFETENSORS = "model.safetensors";
    static final String SAFETENSORS_INDEX = "model.safetensors.index.json";

    /** The quantization picked from a GGUF repository when the name gives none: llama.cpp's default. */
    static final String DEFAULT_QUANTIZATION = "Q4_K_M";

    /**
     * Without a tag and without a Q4_K_M file: the first of these present, then the first GGUF by name. Ordered as
     * llama.cpp users would choose, size against quality; all are types bloom4j runs.
     */
    static final List<String> FALLBACK_QUANTIZATIONS =
            List.of("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q5_0", "Q6_K", "Q8_0", "F16", "BF16", "F32");

    /** Quantization labels as llama.cpp names GGUF files, e.g. {@code bloom-560m-Q4_K_M.gguf}. */
    private static final Pattern LABEL = Pattern.compile(
            "(?i)(?<![A-Za-z0-9])(IQ[1-4]_[A-Z0-9]+(?:_[SMLX]+)?|Q[2-8]_K(?:_[SML])?|Q[4-8]_[01]|TQ[12]_0|BF16|F16|F32)"
                    + "(?![A-Za-z0-9])");
    private static final Pattern SPLIT = Pattern.compile("(?i)-(\\d{5})-of-(\\d{5})\\.gguf$");
    private static final Set<String> OTHER_WEIGHTS =
            Set.of(".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt", ".pkl", ".safetensors");

    private HubFiles() {}

    /** What to fetch: a Hugging Face checkpoint directory, or one GGUF file. */
    sealed interface Plan permits Checkpoint, Gguf {
        List<String> files();
    }

    /**
     * A checkpoint directory: config, tokenizer (and its config when present) and the weights, either the single
     * {@code model.safetensors} or the index, whose shards are known only once it is read.
     */
    record Checkpoint(List<String> files) implements Plan {
        /** Whether the weights are shards listed by the index rather than one {@code model.safetensors}. */
        boolean sharded() {
            return files.contains(SAFETENSORS_INDEX);
        }
    }

    /** One GGUF file; the tokenizer is in its metadata. */
    record Gguf(String file) implements Plan {
        @Override
        public List<String> files() {
            return List.of(file);
        }
    }

    /**
     * Chooses the files of {@code name} among {@code files} ({@code where} says whose list it is, for messages: "on
     * the hub" or "in the cache"). A quantization picks a GGUF file; without one, a safetensors checkpoint wins over GGUF
     * files, and a repository of GGUF files alone gets {@link #DEFAULT_QUANTIZATION} or a fallback.
     *
     * @throws BloomException {@link ModelNotFoundException} when a needed file is absent or no file matches,
     *                        {@link ModelFormatException} (UNSUPPORTED) for a repository whose weights bloom4j
     *                        cannot read or whose GGUF is split
     */
    static Plan plan(HubName name, List<String> files, String where) {
        List<String> ggufs = files.stream().filter(HubFiles::isModelGguf).sorted().toList();
        boolean hasWeights = files.contains(SAFETENSORS) || files.contains(SAFETENSORS_INDEX);
        if (name.quantization() != null) {
            if (ggufs.isEmpty()) {
                throw notFound(name + ": no GGUF file in " + name.repository() + " " + where
                        + (hasWeights ? "; it is a safetensors checkpoint, so leave out ':" + name.quantization()
                                + "' (or convert it with bloom convert --type " + name.quantization().toLowerCase(Locale.ROOT)
                                + ")" : "") + listing(files));
            }
            return new Gguf(pickGguf(name, ggufs, where));
        }
        if (hasWeights || files.contains(CONFIG)) {
            if (!hasWeights) {
                if (!ggufs.isEmpty()) {
                    return new Gguf(pickGguf(name, ggufs, where));
                }
                throw noReadableWeights(name, files, where);
            }
            List<String> missing = new ArrayList<>();
            for (String needed : List.of(CONFIG, TOKENIZER)) {
                if (!files.contains(needed)) {
                    missing.add(needed);
                }
            }
            if (!missing.isEmpty()) {
                throw notFound(name + ": no " + String.join(" and no ", missing) + " in " + name.repository() + " "
                        + where + " (bloom4j needs config.json, tokenizer.json and the safetensors "
                        + "weights)" + listing(files));
            }
            List<String> plan = new ArrayList<>(List.of(CONFIG, TOKENIZER));
            if (files.contains(TOKENIZER_CONFIG)) {
                plan.add(TOKENIZER_CONFIG);
            }
            plan.add(files.contains(SAFETENSORS) ? SAFETENSORS : SAFETENSORS_INDEX);
            return new Checkpoint(List.copyOf(plan));
        }
        if (!ggufs.isEmpty()) {
            return new Gguf(pickGguf(name, ggufs, where));
        }
        throw noReadableWeights(name, files, where);
    }

    /** The quantization label in a GGUF file name, upper case, or {@code null} when it has none. */
    static String quantizationOf(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1);
        Matcher m = LABEL.matcher(base);
        String last = null;
        while (m.find()) {
            last = m.group(1); // the label nearest the extension: names like "Q8_0-of-F16" are rare, but happen
        }
        return last == null ? null : last.toUpperCase(Locale.ROOT);
    }

    /** A GGUF that holds a language model (not a vision projector). */
    private static boolean isModelGguf(String file) {
        String base = file.substring(file.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        return base.endsWith(".gguf") && !base.startsWith("mmproj");
    }

    private static String pickGguf(HubName name, List<String> ggufs, String where) {
        List<String> candidates;
        String tag = name.quantizationTag();
        if (tag != null) {
            // The label itself first (q4_k must not pick q4_k_m when a q4_k file exists), then any name containing
            // the tag, as llama.cpp matches.
            candidates = ggufs.stream().filter(f -> tag.equals(quantizationOf(f))).toList();
            if (candidates.isEmpty()) {
                candidates = ggufs.stream()
                        .filter(f -> f.toUpperCase(Locale.ROOT).contains(tag)).toList();
            }
            if (candidates.isEmpty()) {
                throw notFound(name + ": no GGUF file in " + name.repository() + " " + where
                        + " matches quantization '" + name.quantization() + "'; available: " + available(ggufs));
            }
        } else {
            candidates = List.of();
            for (String preferred : FALLBACK_QUANTIZATIONS) {
                candidates = ggufs.stream().filter(f -> preferred.equals(quantizationOf(f))).toList();
                if (!candidates.isEmpty()) {
                    break;
                }
            }
            if (candidates.isEmpty()) {
                candidates = ggufs.subList(0, 1);
            }
        }
        // One file, or the parts of one split file.
        Set<String> wholes = new LinkedHashSet<>();
        for (String f : candidates) {
            Matcher split = SPLIT.matcher(f);
            wholes.add(split.find() ? f.substring(0, split.start()) + ".gguf" : f);
        }
        if (wholes.size() > 1) {
            throw notFound(name + ": quantization '" + name.quantization() + "' matches " + wholes.size()
                    + " GGUF files in " + name.repository() + ": " + String.join(", ", wholes)
                    + "; give the full label, e.g. :" + quantizationOfOrName(wholes.iterator().next()));
        }
        String chosen = candidates.stream().min(Comparator.naturalOrder()).orElseThrow();
        Matcher split = SPLIT.matcher(chosen);
        if (split.find()) {
            throw Native.exception(BloomStatus.UNSUPPORTED, name + ": " + chosen + " is part 1 of a GGUF split into "
                    + Integer.parseInt(split.group(2)) + " files, which bloom4j does not load; merge the parts "
                    + "with llama.cpp's llama-gguf-split --merge and load the merged file by path", "", null);
        }
        return chosen;
    }

    private static String quantizationOfOrName(String file) {
        String q = quantizationOf(file);
        return q == null ? file : q.toLowerCase(Locale.ROOT);
    }

    private static String available(List<String> ggufs) {
        List<String> out = new ArrayList<>();
        for (String f : ggufs) {
            String q = quantizationOf(f);
            out.add(q == null ? f : q + " (" + f + ")");
        }
        return String.join(", ", out);
    }

    private static BloomException noReadableWeights(HubName name, List<String> files, String where) {
        List<String> weights = files.stream().filter(f -> {
            int dot = f.lastIndexOf('.');
            return dot >= 0 && OTHER_WEIGHTS.contains(f.substring(dot).toLowerCase(Locale.ROOT));
        }).toList();
        if (!weights.isEmpty()) {
            return Native.exception(BloomStatus.UNSUPPORTED, name + ": " + name.repository() + " " + where
                    + " holds its weights as " + String.join(", ", weights.subList(0, Math.min(3, weights.size())))
                    + (weights.size() > 3 ? ", ..." : "") + "; bloom4j reads model.safetensors (or "
                    + "model.safetensors.index.json and its shards) or GGUF files. Convert the checkpoint to "
                    + "safetensors with transformers (save_pretrained(dir, safe_serialization=True)), or use a GGUF "
                    + "repository of the same model", "", null);
        }
        return notFound(name + ": no BLOOM checkpoint in " + name.repository() + " " + where
                + ": no model.safetensors, model.safetensors.index.json or .gguf file" + listing(files));
    }

    private static String listing(List<String> files) {
        if (files.isEmpty()) {
            return " (no files)";
        }
        List<String> shown = files.stream().sorted().limit(12).toList();
        return " (files: " + String.join(", ", shown) + (files.size() > shown.size() ? ", ..." : "") + ")";
    }

    static BloomException notFound(String message) {
        return Native.exception(BloomStatus.IO, message, "", null);
    }
}
