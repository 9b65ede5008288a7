package dev.bloom4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Finds, checks and loads one libbloom.so, trying in order: the path in {@link #PATH_PROPERTY}, the path in
 * {@link #PATH_VARIABLE}, and the jar's libraries for this platform and CPU ({@link CpuVariant#BY_PLATFORM}'s order:
 * the CUDA build first where the class path has one (the bloom4j-natives-cuda jar) and the NVIDIA driver lists a GPU
 * it can run on, then the CPU builds), limited to one variant, or to the CPU ones, by
 * {@link #VARIANT_PROPERTY} or {@link #VARIANT_VARIABLE}. Every place tried adds a line to the error that is thrown
 * when none works. {@link NativeLibrary} runs it once with the real environment; tests run it with their own
 * {@link Inputs}.
 */
final class LibraryResolver {

    static final String PATH_PROPERTY = "bloom4j.library.path";
    static final String PATH_VARIABLE = "BLOOM4J_LIBRARY_PATH";
    static final String VARIANT_PROPERTY = "bloom4j.library.variant";
    static final String VARIANT_VARIABLE = "BLOOM4J_LIBRARY_VARIANT";
    /** The variant choice meaning "any CPU variant": every variant of the platform but the CUDA one. */
    static final String CPU_CHOICE = "cpu";
    static final String LIBRARY_FILE = "libbloom.so";

    /**
     * Everything the resolver reads from outside.
     *
     * @param propertyPath    the value of {@link #PATH_PROPERTY}, if set
     * @param variablePath    the value of {@link #PATH_VARIABLE}, if set
     * @param variantProperty the value of {@link #VARIANT_PROPERTY}, if set: the one jar variant to try, or
     *                        {@value #CPU_CHOICE} for every variant but the CUDA one
     * @param variantVariable the value of {@link #VARIANT_VARIABLE}, if set; the property wins
     * @param platform        {@code <os>-<arch>}, e.g. {@code linux-x86_64}
     * @param cpuFlags        the CPU's flags from /proc/cpuinfo; empty when unknown
     * @param resources       resource path ({@code native/...}) to its URL, or null when the jar does not have it
     * @param cacheRoot       where libraries from the jar are extracted, under {@code lib/<sha256>/}
     * @param expectedAbi     the BLOOM_ABI_VERSION the bindings were generated from
     * @param systemLoad      makes a checked library the one the bindings use ({@code System.load})
     * @param cudaCheck       why the jar's CUDA variant cannot use a GPU here (empty: it can), given the text of
     *                        its {@value CudaCheck#PROPERTIES_FILE} when the jar has one ({@link CudaCheck})
     */
    record Inputs(Optional<String> propertyPath, Optional<String> variablePath, Optional<String> variantProperty,
                  Optional<String> variantVariable, String platform, Optional<Set<String>> cpuFlags,
                  Function<String, URL> resources, Path cacheRoot, int expectedAbi, Consumer<Path> systemLoad,
                  Function<Optional<String>, Optional<String>> cudaCheck) {
        Inputs {
            Objects.requireNonNull(propertyPath, "propertyPath");
            Objects.requireNonNull(variablePath, "variablePath");
            Objects.requireNonNull(variantProperty, "variantProperty");
            Objects.requireNonNull(variantVariable, "variantVariable");
            Objects.requireNonNull(platform, "platform");
            Objects.requireNonNull(cpuFlags, "cpuFlags");
            Objects.requireNonNull(resources, "resources");
            Objects.requireNonNull(cacheRoot, "cacheRoot");
            Objects.requireNonNull(systemLoad, "systemLoad");
            Objects.requireNonNull(cudaCheck, "cudaCheck");
        }
    }

    private final Inputs in;
    private final List<String> attempts = new ArrayList<>();
    private String lastReason = "";                          // why the last attempt failed, without its place
    private Optional<String> cudaNotLoaded = Optional.empty(); // why the jar's CUDA variant was not taken

    private LibraryResolver(Inputs in) {
        this.in = in;
    }

    /**
     * Loads the first usable library.
     *
     * @return the library loaded, and the lines of the places that were tried before it and failed
     * @throws NativeLibraryLoadError when no place had a usable library; its message lists them all
     */
    static Result resolve(Inputs in) {
        return new LibraryResolver(in).run();
    }

    /**
     * A loaded library and the failed attempts before it (worth a warning when an explicit path was ignored).
     *
     * @param cudaFallback why the jar's CUDA variant was not loaded, when the jar has one, the variant choice allowed
     *                     it and a CPU variant was loaded instead (e.g. {@code the dynamic loader refused it:
     *                     libcudart.so.13: cannot open shared object file: No such file or directory})
     */
    record Result(LoadedLibrary library, List<String> failedBefore, Optional<String> cudaFallback) {
    }

    private Result run() {
        Optional<LoadedLibrary> found = explicit("system property " + PATH_PROPERTY, in.propertyPath())
                .or(() -> explicit("environment variable " + PATH_VARIABLE, in.variablePath()))
                .or(this::fromJar);
        if (found.isPresent()) {
            boolean fellBack = found.get().variant().filter(v -> !v.equals(CpuVariant.CUDA)).isPresent();
            return new Result(found.get(), List.copyOf(attempts),
                    fellBack ? cudaNotLoaded : Optional.empty());
        }
        StringBuilder message = new StringBuilder()
                .append("Could not load the bloom4j native library (").append(LIBRARY_FILE).append(", ABI version ")
                .append(in.expectedAbi()).append(") for ").append(in.platform())
                .append(". Places tried, in order:");
        for (int i = 0; i < attempts.size(); i++) {
            message.append("\n  ").append(i + 1).append(". ").append(attempts.get(i));
        }
        message.append("\nSet -D").append(PATH_PROPERTY).append(" or ").append(PATH_VARIABLE).append(" to")
                .append(" a libbloom.so built from the same sources (e.g. bindings/target/cmake/x86-64-v3/native/")
                .append(LIBRARY_FILE).append("), or rebuild the jar with ./mvnw package.");
        throw new NativeLibraryLoadError(message.toString(), attempts);
    }

    /** A path given by the user: a libbloom.so, or a directory holding one. */
    private Optional<LoadedLibrary> explicit(String place, Optional<String> value) {
        if (value.isEmpty()) {
            fail(place, "not set");
            return Optional.empty();
        }
        String text = value.get();
        place = place + "=" + text;
        if (text.isBlank()) {
            fail(place, "empty");
            return Optional.empty();
        }
        Path path;
        try {
            path = Path.of(text).toAbsolutePath();
        } catch (InvalidPathException e) {
            fail(place, "not a valid path (" + e.getMessage() + ")");
            return Optional.empty();
        }
        if (Files.isDirectory(path)) {
            path = path.resolve(LIBRARY_FILE);
        }
        if (!Files.exists(path)) {
            fail(place, path + " does not exist");
            return Optional.empty();
        }
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
            fail(place, path + " is not a readable file");
            return Optional.empty();
        }
        return check(place, path, Optional.empty());
    }

    /**
     * The jar's libraries for this platform, in {@link CpuVariant#BY_PLATFORM}'s order: the CUDA build first where
     * the class path has one and {@link Inputs#cudaCheck} finds a GPU for it (the dynamic loader still refuses it where
     * the CUDA runtime libraries are missing, and the CPU builds follow), then the best CPU build this CPU can run.
     * A variant choice ({@link #VARIANT_PROPERTY}) skips the rest.
     */
    private Optional<LoadedLibrary> fromJar() {
        List<CpuVariant> variants = CpuVariant.BY_PLATFORM.get(in.platform());
        if (variants == null) {
            attempts.add("jar resources: this jar carries " + LIBRARY_FILE + " for " + new TreeSet<>(
                    CpuVariant.BY_PLATFORM.keySet()) + " only, not for " + in.platform());
            return Optional.empty();
        }
        Optional<VariantChoice> choice = VariantChoice.of(VARIANT_PROPERTY, in.variantProperty())
                .or(() -> VariantChoice.of(VARIANT_VARIABLE, in.variantVariable()));
        if (choice.isPresent() && !choice.get().value().equals(CPU_CHOICE)
                && variants.stream().noneMatch(v -> v.name().equals(choice.get().value()))) {
            attempts.add(choice.get() + ": no such variant for " + in.platform() + "; one of "
                    + String.join(", ", variants.stream().map(CpuVariant::name).toList()) + ", or " + CPU_CHOICE
                    + " for any but " + CpuVariant.CUDA);
            return Optional.empty();
        }
        List<CpuVariant> runnable = CpuVariant.runnable(in.platform(), in.cpuFlags());
        for (CpuVariant variant : variants) {
            String resource = directory(variant) + LIBRARY_FILE;
            String place = "jar resource " + resource;
            if (choice.isPresent() && !choice.get().admits(variant)) {
                attempts.add(place + ": skipped, " + choice.get());
                continue;
            }
            URL url = in.resources().apply(resource);
            if (url == null) {
                attempts.add(place + ": not in the jar" + (variant.origin().isEmpty() ? ""
                        : " (" + variant.origin() + ")"));
                continue;
            }
            if (variant.isCuda() && runnable.contains(variant)) {
                // Asked before anything is loaded: without a GPU the CUDA build would run on its x86-64-v3 CPU code.
                Optional<String> unusable = in.cudaCheck().apply(
                        readText(in.resources().apply(directory(variant) + CudaCheck.PROPERTIES_FILE)));
                if (unusable.isPresent()) {
                    fail(place, "skipped, " + unusable.get());
                    cudaNotLoaded = unusable;
                    continue;
                }
            }
            Optional<LoadedLibrary> loaded = fromJar(variant, place, url, runnable);
            if (loaded.isPresent()) {
                return loaded;
            }
            if (variant.isCuda()) {
                cudaNotLoaded = Optional.of(lastReason);
            }
        }
        return Optional.empty();
    }

    /** The jar directory of a variant's files, {@code native/<os>-<arch>/<variant>/}. */
    private String directory(CpuVariant variant) {
        return "native/" + in.platform() + "/" + variant.name() + "/";
    }

    /** A small text resource's content; empty when absent or unreadable. */
    private static Optional<String> readText(URL resource) {
        if (resource == null) {
            return Optional.empty();
        }
        try (InputStream in = resource.openStream()) {
            return Optional.of(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** A variant named by {@link #VARIANT_PROPERTY} or {@link #VARIANT_VARIABLE}; {@code toString} is for messages. */
    private record VariantChoice(String setting, String value) {
        static Optional<VariantChoice> of(String setting, Optional<String> value) {
            return value.map(String::strip).filter(v -> !v.isEmpty()).map(v -> new VariantChoice(setting, v));
        }

        boolean admits(CpuVariant variant) {
            return value.equals(CPU_CHOICE) ? !variant.isCuda() : value.equals(variant.name());
        }

        @Override
        public String toString() {
            return setting + "=" + value;
        }
    }

    /** One variant that the jar has: checked against the CPU, extracted, probed and loaded. */
    private Optional<LoadedLibrary> fromJar(CpuVariant variant, String place, URL url, List<CpuVariant> runnable) {
        if (!runnable.contains(variant)) {
            fail(place, "skipped, " + in.cpuFlags()
                    .map(flags -> "this CPU lacks " + String.join(", ", variant.missingFlags(flags))
                            + " (" + variant.description() + ")")
                    .orElse("the CPU's flags are unknown (no flags or Features line in /proc/cpuinfo), so only the most"
                            + " compatible variant is tried"));
            return Optional.empty();
        }
        Path extracted;
        try {
            extracted = extract(url, in.cacheRoot());
        } catch (IOException e) {
            // A read-only home (some containers, CI sandboxes): a private directory that lives as long as
            // this JVM still works, it only costs the extraction on every start.
            try {
                Path scratch = Files.createTempDirectory("bloom4j-");
                extracted = extract(url, scratch);
                deleteOnExit(scratch, extracted);
            } catch (IOException e2) {
                fail(place, "could not be extracted under " + in.cacheRoot() + " (" + e
                        + ") nor under a temporary directory (" + e2 + ")");
                return Optional.empty();
            }
        }
        Path file = extracted;
        return check(place + " (extracted to " + file + ")", file, Optional.of(variant.name()))
                .map(loaded -> new LoadedLibrary(file, place, loaded.variant(), loaded.abiVersion()));
    }

    /** Checks the ABI version of {@code path} before loading it for good. */
    private Optional<LoadedLibrary> check(String place, Path path, Optional<String> variant) {
        try (LibraryProbe probe = LibraryProbe.open(path)) {
            int abi = probe.abiVersion();
            if (abi != in.expectedAbi()) {
                fail(place, "wrong ABI version " + abi + " (these bindings need " + in.expectedAbi()
                        + "); it was built from other sources than this jar");
                return Optional.empty();
            }
            in.systemLoad().accept(path);
            return Optional.of(new LoadedLibrary(path, place, variant, abi));
        } catch (LibraryProbe.Rejected e) {
            fail(place, e.getMessage());
        } catch (UnsatisfiedLinkError e) {
            fail(place, "System.load failed: " + e.getMessage());
        }
        return Optional.empty();
    }

    /** Records a failed attempt: "place: reason" in the list, the reason alone for the CUDA fallback's message. */
    private void fail(String place, String reason) {
        attempts.add(place + ": " + reason);
        lastReason = reason;
    }

    /**
     * Copies the resource to {@code <cacheRoot>/lib/<sha256 of its bytes>/libbloom.so} unless a copy with that
     * content is already there. The copy is written to a temporary file and renamed into place, so a concurrent
     * JVM sees either no file or a whole one; the name by content means two bloom4j versions never share a file.
     */
    static Path extract(URL resource, Path cacheRoot) throws IOException {
        Path libDir = cacheRoot.resolve("lib");
        Files.createDirectories(libDir);
        Path temporary = Files.createTempFile(libDir, LIBRARY_FILE + ".", ".part");
        try {
            String sha256;
            try (InputStream raw = resource.openStream();
                 DigestInputStream in = new DigestInputStream(raw, sha256());
                 OutputStream out = Files.newOutputStream(temporary)) {
                in.transferTo(out);
                sha256 = HexFormat.of().formatHex(in.getMessageDigest().digest());
            }
            Path target = libDir.resolve(sha256).resolve(LIBRARY_FILE);
            if (Files.isRegularFile(target) && sha256.equals(sha256Of(target))) {
                return target;
            }
            Files.createDirectories(target.getParent());
            try {
                Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return target;
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    /** Registers the extracted file and the directories above it up to {@code root} for deletion at exit. */
    private static void deleteOnExit(Path root, Path file) {
        // deleteOnExit runs in reverse order of registration: register the directories first.
        List<Path> chain = new ArrayList<>();
        for (Path p = file; p != null && p.startsWith(root); p = p.getParent()) {
            chain.add(p);
        }
        for (int i = chain.size() - 1; i >= 0; i--) {
            chain.get(i).toFile().deleteOnExit();
        }
    }

    static String sha256Of(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha256())) {
            in.transferTo(OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
