package dev.bloom4j;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One revision of a repository in the Hugging Face hub cache, as {@link HubModels#cached()} finds it.
 * {@snippet :
 * for (CachedModel m : HubModels.fromEnvironment().cached()) {
 *     System.out.println(m.repository() + " " + m.refs() + " " + m.sizeBytes() + " " + m.format());
 * }
 * }
 *
 * @param repository     {@code org/name}
 * @param commit         the snapshot's commit hash
 * @param refs           the branches and tags in {@code refs/} that point at this commit (empty when none does)
 * @param sizeBytes      bytes of the distinct files the snapshot links to
 * @param format         {@code safetensors} (a checkpoint bloom4j can load), {@code gguf}, or {@code other}
 * @param quantizations  the quantization labels of the GGUF files in the snapshot ({@code Q4_K_M}, ...)
 * @param snapshot       the snapshot directory
 */
public record CachedModel(String repository, String commit, List<String> refs, long sizeBytes, String format,
                          List<String> quantizations, Path snapshot) {

    /** Copies the lists; every field is required. */
    public CachedModel {
        Objects.requireNonNull(repository, "repository");
        Objects.requireNonNull(commit, "commit");
        refs = List.copyOf(refs);
        Objects.requireNonNull(format, "format");
        quantizations = List.copyOf(quantizations);
        Objects.requireNonNull(snapshot, "snapshot");
    }

    /**
     * How to name this revision to {@link HubModels#resolve(String)}: {@code org/name} for {@code main},
     * {@code org/name@ref} for another ref, {@code org/name@commit} when no ref points here.
     */
    public String name() {
        if (refs.contains(HubName.DEFAULT_REVISION)) {
            return repository;
        }
        return repository + "@" + (refs.isEmpty() ? commit : refs.getFirst());
    }
}
