package dev.bloom4j;

import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A model named the way the Hugging Face hub names it: {@code org/name}, optionally {@code @revision} (a branch,
 * tag or commit) and {@code :quantization} (a GGUF file of that quantization, as llama.cpp's {@code -hf} takes it).
 * {@snippet :
 * HubName.parse("bigscience/bloom-560m");                 // revision "main", no quantization
 * HubName.parse("bigscience/bloom-560m@refs/pr/7");       // a pull request's revision
 * HubName.parse("someone/bloom-560m-GGUF:q4_k_m");        // the Q4_K_M file of a GGUF repository
 * HubName.parse("someone/bloom-560m-GGUF@v1.0:Q8_0");
 * }
 *
 * @param repository   {@code org/name}
 * @param revision     the branch, tag or 40-hex commit; {@value #DEFAULT_REVISION} when the name gives none
 * @param quantization the GGUF quantization tag as written (matched case-insensitively), or {@code null} for none
 */
public record HubName(String repository, String revision, String quantization) {

    /** The revision of a name that gives none, as on the hub. */
    public static final String DEFAULT_REVISION = "main";

    /** The rules huggingface_hub's {@code validate_repo_id} applies to each half of a repository id. */
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern QUANTIZATION = Pattern.compile("[A-Za-z0-9_.-]+");
    private static final int MAX_REPOSITORY_LENGTH = 96;

    /** Validates every field; the message names the offending one and shows the expected form. */
    public HubName {
        Objects.requireNonNull(repository, "repository");
        Objects.requireNonNull(revision, "revision");
        String[] parts = repository.split("/", -1);
        if (parts.length != 2) {
            throw bad(repository, parts.length == 1 ? "no '/' between organisation and name"
                    : (parts.length - 1) + " '/' where a repository id has one");
        }
        for (int i = 0; i < 2; i++) {
            String part = parts[i];
            if (part.isEmpty()) {
                throw bad(repository, "empty " + (i == 0 ? "organisation" : "name"));
            }
            if (!PART.matcher(part).matches() || part.contains("--") || part.contains("..")
                    || part.endsWith(".") || part.endsWith("-")) {
                throw bad(repository, "'" + part + "' is not a valid hub name part (letters, digits and . _ -, "
                        + "not starting or ending with . or -, no '--' or '..')");
            }
        }
        if (repository.length() > MAX_REPOSITORY_LENGTH) {
            throw bad(repository, "longer than " + MAX_REPOSITORY_LENGTH + " characters");
        }
        if (revision.isEmpty()) {
            throw bad(repository + "@", "empty revision after '@'");
        }
        for (String segment : revision.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw bad(repository + "@" + revision, "revision '" + revision
                        + "' has an empty, '.' or '..' path segment");
            }
        }
        if (revision.chars().anyMatch(c -> c < 0x21 || c == ':' || c == '\\' || c == 0x7f)) {
            throw bad(repository + "@" + revision, "revision '" + revision + "' contains a space, control "
                    + "character, ':' or '\\'");
        }
        if (quantization != null && !QUANTIZATION.matcher(quantization).matches()) {
            throw bad(repository + ":" + quantization, "quantization '" + quantization + "' is empty or not a tag "
                    + "like q4_k_m");
        }
    }

    /**
     * Parses {@code org/name[@revision][:quantization]}. A revision cannot contain {@code ':'} (git forbids it in
     * ref names), so the last {@code ':'} after the repository always starts the quantization.
     *
     * @throws IllegalArgumentException the text is not such a name; the message says what is wrong
     */
    public static HubName parse(String text) {
        Objects.requireNonNull(text, "text");
        String rest = text.strip();
        String quantization = null;
        int colon = rest.lastIndexOf(':');
        if (colon >= 0) {
            quantization = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (quantization.isEmpty()) {
                throw bad(text, "empty quantization after ':' (for example :q4_k_m)");
            }
        }
        String revision = DEFAULT_REVISION;
        int at = rest.indexOf('@');
        if (at >= 0) {
            revision = rest.substring(at + 1);
            rest = rest.substring(0, at);
            if (revision.isEmpty()) {
                throw bad(text, "empty revision after '@' (a branch, tag or commit, for example @main)");
            }
        }
        return new HubName(rest, revision, quantization);
    }

    /** Whether {@link #revision()} is a full commit hash, which needs no {@code refs/} entry to resolve. */
    public boolean isCommit() {
        return isCommitHash(revision);
    }

    /** Whether {@code s} has the form of a git object hash (40 lowercase hex digits): a commit, or a blob's ETag. */
    static boolean isCommitHash(String s) {
        return COMMIT.matcher(s).matches();
    }

    /** The directory name the hub cache gives this repository: {@code models--org--name}. */
    public String cacheFolderName() {
        return "models--" + repository.replace("/", "--");
    }

    /** The quantization tag in upper case ({@code Q4_K_M}), or {@code null}. */
    String quantizationTag() {
        return quantization == null ? null : quantization.toUpperCase(Locale.ROOT);
    }

    /** The name as {@link #parse} reads it, leaving out the default revision. */
    @Override
    public String toString() {
        return repository + (revision.equals(DEFAULT_REVISION) ? "" : "@" + revision)
                + (quantization == null ? "" : ":" + quantization);
    }

    private static IllegalArgumentException bad(String text, String why) {
        return new IllegalArgumentException("not a hub model name: '" + text + "': " + why
                + "; expected org/name[@revision][:quantization], e.g. bigscience/bloom-560m");
    }
}
