package dev.bloom4j.bindings;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The loader's search and its error text, without any real libbloom.so. */
class LibraryResolverTest {

    private static final Set<String> AVX2_CPU = Set.of("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2");

    @TempDir
    Path temp;

    private final List<Path> systemLoaded = new ArrayList<>();

    private LibraryResolver.Inputs inputs(String property, String variable, String platform,
                                          Optional<Set<String>> flags, Function<String, URL> resources) {
        return new LibraryResolver.Inputs(Optional.ofNullable(property), Optional.ofNullable(variable), platform,
                flags, resources, temp.resolve("cache"), 1, systemLoaded::add);
    }

    private static Function<String, URL> jarWith(Map<String, Path> entries) {
        return name -> {
            Path file = entries.get(name);
            try {
                return file == null ? null : file.toUri().toURL();
            } catch (MalformedURLException e) {
                throw new AssertionError(e);
            }
        };
    }

    @Test
    void errorListsEveryPlaceAndWhy() {
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs("/nonexistent/bogus/libbloom.so", null, "linux-x86_64", Optional.of(AVX2_CPU),
                        jarWith(Map.of()))));
        String message = e.getMessage();
        assertTrue(message.startsWith("Could not load the bloom4j native library (libbloom.so, ABI version 1) for "
                + "linux-x86_64. Places tried, in order:"), message);
        assertEquals(List.of(
                "system property bloom4j.library.path=/nonexistent/bogus/libbloom.so: "
                        + "/nonexistent/bogus/libbloom.so does not exist",
                "environment variable BLOOM4J_LIBRARY_PATH: not set",
                "jar resource native/linux-x86_64/native/libbloom.so: not in the jar (only a local -Pnative build"
                        + " has it)",
                "jar resource native/linux-x86_64/x86-64-v3/libbloom.so: not in the jar",
                "jar resource native/linux-x86_64/x86-64-v2/libbloom.so: not in the jar"), e.attempts());
        for (int i = 0; i < e.attempts().size(); i++) {
            assertTrue(message.contains("\n  " + (i + 1) + ". " + e.attempts().get(i)), message);
        }
        assertTrue(message.contains("-Dbloom4j.library.path"), message);
        assertEquals(List.of(), systemLoaded);
    }

    @Test
    void fileThatIsNotALibraryReportsTheLoaderError() throws IOException {
        Path notElf = Files.writeString(temp.resolve("libbloom.so"), "not an ELF file, just text\n");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, temp.toString(), "linux-x86_64", Optional.of(AVX2_CPU), jarWith(Map.of()))));
        String attempt = e.attempts().get(1);
        // A directory is searched for libbloom.so; the dynamic loader's own words follow.
        assertTrue(attempt.startsWith("environment variable BLOOM4J_LIBRARY_PATH=" + temp
                + ": the dynamic loader refused it: "), attempt);
        assertTrue(attempt.contains(notElf.toString()) || attempt.contains("ELF") || attempt.contains("too short"),
                attempt);
    }

    @Test
    void libraryWithoutTheAbiSymbolIsNotTakenForBloom() {
        // The JDK's own libjava.so: a real shared library, already loaded, with no bloom_abi_version.
        Path libjava = Path.of(System.getProperty("java.home"), "lib", "libjava.so");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(libjava.toString(), null, "linux-x86_64", Optional.of(AVX2_CPU), jarWith(Map.of()))));
        assertEquals("system property bloom4j.library.path=" + libjava
                + ": not a bloom4j library: it has no bloom_abi_version symbol", e.attempts().get(0));
        assertEquals(List.of(), systemLoaded);
    }

    @Test
    void variantTheCpuCannotRunIsSkippedWithTheMissingFlags() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "x");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(Set.of("sse4_2", "avx", "f16c")),
                        jarWith(Map.of("native/linux-x86_64/x86-64-v3/libbloom.so", fake)))));
        assertEquals("jar resource native/linux-x86_64/x86-64-v3/libbloom.so: skipped, this CPU lacks avx2, bmi2, "
                + "fma (AVX2 + FMA + F16C)", e.attempts().get(3));
    }

    @Test
    void extractedVariantIsProbedFromTheCache() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(AVX2_CPU),
                        jarWith(Map.of("native/linux-x86_64/x86-64-v2/libbloom.so", fake)))));
        String attempt = e.attempts().get(4);
        assertTrue(attempt.startsWith("jar resource native/linux-x86_64/x86-64-v2/libbloom.so (extracted to "
                + temp.resolve("cache").resolve("lib")), attempt);
        assertTrue(attempt.contains("the dynamic loader refused it"), attempt);
    }

    @Test
    void unsupportedPlatformSaysWhichOnesTheJarHas() {
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, "", "linux-aarch64", Optional.empty(), jarWith(Map.of()))));
        assertEquals(List.of(
                "system property bloom4j.library.path: not set",
                "environment variable BLOOM4J_LIBRARY_PATH=: empty",
                "jar resources: this jar carries libbloom.so for [linux-x86_64] only, not for linux-aarch64"),
                e.attempts());
    }

    @Test
    void extractionIsNamedByContentAndReused() throws IOException {
        byte[] v1 = "first build".getBytes(StandardCharsets.UTF_8);
        Path source = Files.write(temp.resolve("source.so"), v1);
        Path cache = temp.resolve("cache");

        Path first = LibraryResolver.extract(source.toUri().toURL(), cache);
        assertEquals(cache.resolve("lib").resolve(LibraryResolver.sha256Of(source)).resolve("libbloom.so"), first);
        assertArrayEquals(v1, Files.readAllBytes(first));
        long modified = Files.getLastModifiedTime(first).toMillis();

        assertEquals(first, LibraryResolver.extract(source.toUri().toURL(), cache));
        assertEquals(modified, Files.getLastModifiedTime(first).toMillis(), "an intact copy is reused");

        Files.writeString(first, "truncat");
        assertEquals(first, LibraryResolver.extract(source.toUri().toURL(), cache));
        assertArrayEquals(v1, Files.readAllBytes(first), "a damaged copy is replaced");

        Files.writeString(source, "second build");
        Path second = LibraryResolver.extract(source.toUri().toURL(), cache);
        assertNotEquals(first, second);
        try (var files = Files.list(cache.resolve("lib"))) {
            assertEquals(2, files.count(), "no temporary files left behind");
        }
    }
}
