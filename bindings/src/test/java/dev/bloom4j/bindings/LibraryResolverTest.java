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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The loader's search and its error text, without any real libbloom.so. */
class LibraryResolverTest {

    private static final Set<String> AVX2_CPU = Set.of("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2");

    @TempDir
    Path temp;

    private final List<Path> systemLoaded = new ArrayList<>();
    /** What the GPU check answers (empty: a usable GPU), and the cuda.properties texts it was asked about. */
    private Optional<String> gpuVerdict = Optional.empty();
    private final List<Optional<String>> gpuAsked = new ArrayList<>();

    private LibraryResolver.Inputs inputs(String property, String variable, String platform,
                                          Optional<Set<String>> flags, Function<String, URL> resources) {
        return variantInputs(property, variable, null, null, platform, flags, resources, 1);
    }

    private LibraryResolver.Inputs variantInputs(String property, String variable, String variantProperty,
                                                 String variantVariable, String platform,
                                                 Optional<Set<String>> flags, Function<String, URL> resources,
                                                 int expectedAbi) {
        return new LibraryResolver.Inputs(Optional.ofNullable(property), Optional.ofNullable(variable),
                Optional.ofNullable(variantProperty), Optional.ofNullable(variantVariable), platform, flags,
                resources, temp.resolve("cache"), expectedAbi, systemLoaded::add, text -> {
                    gpuAsked.add(text);
                    return gpuVerdict;
                });
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
                "jar resource native/linux-x86_64/cuda/libbloom.so: not in the jar (it comes in the bloom4j-natives-cuda jar)",
                "jar resource native/linux-x86_64/native/libbloom.so: not in the jar (only a build with -Pnative has"
                        + " it)",
                "jar resource native/linux-x86_64/x86-64-v4-vnni-bf16/libbloom.so: not in the jar",
                "jar resource native/linux-x86_64/x86-64-v4/libbloom.so: not in the jar",
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
                + "fma (AVX2 + FMA + F16C)", e.attempts().get(6));
    }

    @Test
    void avx512WithoutVnniSkipsTheVnniBuildAndTriesX8664V4() throws IOException {
        // Skylake-SP: AVX-512 F/CD/VL/DQ/BW, no VNNI or BF16. Loading the VNNI build there would end in SIGILL.
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        Set<String> skylake = new java.util.HashSet<>(AVX2_CPU);
        skylake.addAll(Set.of("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"));
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(skylake), jarWith(Map.of(
                        "native/linux-x86_64/x86-64-v4-vnni-bf16/libbloom.so", fake,
                        "native/linux-x86_64/x86-64-v4/libbloom.so", fake)))));
        assertEquals("jar resource native/linux-x86_64/x86-64-v4-vnni-bf16/libbloom.so: skipped, this CPU lacks "
                + "avx512_bf16, avx512_vnni (AVX-512 + VNNI + BF16)", e.attempts().get(4));
        assertTrue(e.attempts().get(5).startsWith("jar resource native/linux-x86_64/x86-64-v4/libbloom.so (extracted "
                + "to ") && e.attempts().get(5).contains("the dynamic loader refused it"), e.attempts()::toString);
    }

    @Test
    void extractedVariantIsProbedFromTheCache() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(AVX2_CPU),
                        jarWith(Map.of("native/linux-x86_64/x86-64-v2/libbloom.so", fake)))));
        String attempt = e.attempts().get(7);
        assertTrue(attempt.startsWith("jar resource native/linux-x86_64/x86-64-v2/libbloom.so (extracted to "
                + temp.resolve("cache").resolve("lib")), attempt);
        assertTrue(attempt.contains("the dynamic loader refused it"), attempt);
    }

    @Test
    void cudaVariantIsTriedFirstThenTheCpuVariants() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(AVX2_CPU), jarWith(Map.of(
                        "native/linux-x86_64/cuda/libbloom.so", fake,
                        "native/linux-x86_64/x86-64-v3/libbloom.so", fake,
                        "native/linux-x86_64/x86-64-v2/libbloom.so", fake)))));
        List<String> jar = e.attempts().subList(2, e.attempts().size());
        assertEquals(6, jar.size(), jar::toString);
        assertTrue(jar.get(0).startsWith("jar resource native/linux-x86_64/cuda/libbloom.so (extracted to "),
                jar::toString);
        assertTrue(jar.get(1).startsWith("jar resource native/linux-x86_64/native/libbloom.so: not in the jar"),
                jar::toString);
        assertTrue(jar.get(4).startsWith("jar resource native/linux-x86_64/x86-64-v3/libbloom.so (extracted to "),
                jar::toString);
        assertTrue(jar.get(5).startsWith("jar resource native/linux-x86_64/x86-64-v2/libbloom.so (extracted to "),
                jar::toString);
        for (int i : new int[] {0, 4, 5}) {
            assertTrue(jar.get(i).contains(": the dynamic loader refused it: "), jar.get(i));
        }
    }

    @Test
    void cudaVariantWithoutAUsableGpuIsNeitherExtractedNorLoaded() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        Path properties = Files.writeString(temp.resolve("cuda.properties"), "cuda.version=13.0.88\n"
                + "cuda.architectures=80;90\n");
        gpuVerdict = Optional.of("no NVIDIA driver: libcuda.so.1: cannot open shared object file");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(AVX2_CPU), jarWith(Map.of(
                        "native/linux-x86_64/cuda/libbloom.so", fake,
                        "native/linux-x86_64/cuda/cuda.properties", properties)))));
        assertEquals("jar resource native/linux-x86_64/cuda/libbloom.so: skipped, no NVIDIA driver: libcuda.so.1:"
                + " cannot open shared object file", e.attempts().get(2));
        assertEquals(List.of(Optional.of("cuda.version=13.0.88\ncuda.architectures=80;90\n")), gpuAsked,
                "the check saw the build's requirements");
        assertFalse(Files.exists(temp.resolve("cache")), "nothing was extracted");

        // No cuda.properties beside it (a library packaged by hand): the check is still asked, without requirements.
        gpuAsked.clear();
        assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(inputs(null, null, "linux-x86_64",
                Optional.of(AVX2_CPU), jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", fake)))));
        assertEquals(List.of(Optional.empty()), gpuAsked);

        // Without a CUDA variant, or with the CPU ones chosen, the driver is never asked.
        gpuAsked.clear();
        assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(inputs(null, null, "linux-x86_64",
                Optional.of(AVX2_CPU), jarWith(Map.of("native/linux-x86_64/x86-64-v3/libbloom.so", fake)))));
        assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(variantInputs(null, null, "cpu",
                null, "linux-x86_64", Optional.of(AVX2_CPU),
                jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", fake)), 1)));
        assertEquals(List.of(), gpuAsked);
    }

    @Test
    void cudaVariantNeedsTheX8664V3Flags() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "x");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-x86_64", Optional.of(Set.of("sse4_2", "avx")),
                        jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", fake)))));
        assertEquals("jar resource native/linux-x86_64/cuda/libbloom.so: skipped, this CPU lacks avx2, bmi2, f16c, "
                + "fma (x86-64-v3 + CUDA, needs libcudart.so.13 and libcublas.so.13)", e.attempts().get(2));
    }

    @Test
    void variantChoiceCpuSkipsTheCudaVariant() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "x");
        Function<String, URL> jar = jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", fake));
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                variantInputs(null, null, " cpu ", "cuda", "linux-x86_64", Optional.of(AVX2_CPU), jar, 1)));
        // The property wins over the variable; the CPU variants are still tried.
        assertEquals(List.of(
                "system property bloom4j.library.path: not set",
                "environment variable BLOOM4J_LIBRARY_PATH: not set",
                "jar resource native/linux-x86_64/cuda/libbloom.so: skipped, bloom4j.library.variant=cpu",
                "jar resource native/linux-x86_64/native/libbloom.so: not in the jar (only a build with -Pnative has"
                        + " it)",
                "jar resource native/linux-x86_64/x86-64-v4-vnni-bf16/libbloom.so: not in the jar",
                "jar resource native/linux-x86_64/x86-64-v4/libbloom.so: not in the jar",
                "jar resource native/linux-x86_64/x86-64-v3/libbloom.so: not in the jar",
                "jar resource native/linux-x86_64/x86-64-v2/libbloom.so: not in the jar"), e.attempts());
    }

    @Test
    void variantChoiceOfOneVariantTriesOnlyThatOne() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "x");
        Function<String, URL> jar = jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", fake,
                "native/linux-x86_64/x86-64-v3/libbloom.so", fake));
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                variantInputs(null, null, "", "x86-64-v2", "linux-x86_64", Optional.of(AVX2_CPU), jar, 1)));
        assertEquals(List.of(
                "jar resource native/linux-x86_64/cuda/libbloom.so: skipped, BLOOM4J_LIBRARY_VARIANT=x86-64-v2",
                "jar resource native/linux-x86_64/native/libbloom.so: skipped, BLOOM4J_LIBRARY_VARIANT=x86-64-v2",
                "jar resource native/linux-x86_64/x86-64-v4-vnni-bf16/libbloom.so: skipped, "
                        + "BLOOM4J_LIBRARY_VARIANT=x86-64-v2",
                "jar resource native/linux-x86_64/x86-64-v4/libbloom.so: skipped, BLOOM4J_LIBRARY_VARIANT=x86-64-v2",
                "jar resource native/linux-x86_64/x86-64-v3/libbloom.so: skipped, BLOOM4J_LIBRARY_VARIANT=x86-64-v2",
                "jar resource native/linux-x86_64/x86-64-v2/libbloom.so: not in the jar"),
                e.attempts().subList(2, e.attempts().size()));

        // Forced to cuda: no CPU variant is tried after it fails.
        e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                variantInputs(null, null, "cuda", null, "linux-x86_64", Optional.of(AVX2_CPU), jar, 1)));
        List<String> tried = e.attempts().subList(2, e.attempts().size());
        assertTrue(tried.get(0).contains("cuda/libbloom.so (extracted to ")
                && tried.get(0).contains("the dynamic loader refused it"), tried::toString);
        assertEquals("jar resource native/linux-x86_64/x86-64-v3/libbloom.so: skipped, bloom4j.library.variant=cuda",
                tried.get(4));
    }

    @Test
    void unknownVariantChoiceNamesTheValidOnes() {
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                variantInputs(null, null, "gpu", null, "linux-x86_64", Optional.of(AVX2_CPU), jarWith(Map.of()), 1)));
        assertEquals("bloom4j.library.variant=gpu: no such variant for linux-x86_64; one of cuda, native, "
                + "x86-64-v4-vnni-bf16, x86-64-v4, x86-64-v3, x86-64-v2, or cpu for any but cuda", e.attempts().get(2));
        assertEquals(3, e.attempts().size());
    }

    /**
     * The fallback itself, with a real libbloom.so from this build as the CPU variant and, as the CUDA variant, a
     * copy of it whose dependency libm.so.6 is renamed to a library that does not exist: the dynamic loader refuses
     * it exactly as it refuses a CUDA build on a machine without libcudart.so.13. No CUDA needed.
     */
    @Test
    void cudaVariantThatDoesNotLoadFallsBackToTheCpuVariant() throws Exception {
        URL built = getClass().getClassLoader().getResource("native/linux-x86_64/x86-64-v3/libbloom.so");
        Optional<Set<String>> cpu = NativeLibrary.cpuFlags();
        assumeTrue(built != null && "linux-x86_64".equals(NativeLibrary.platform()), "no x86-64-v3 libbloom.so built");
        assumeTrue(cpu.isPresent() && cpu.get().containsAll(AVX2_CPU), "this CPU cannot run x86-64-v3");
        Path real = Path.of(built.toURI());
        int abi;
        try (LibraryProbe probe = LibraryProbe.open(real)) {
            abi = probe.abiVersion();
        }
        byte[] bytes = Files.readAllBytes(real);
        byte[] from = "libm.so.6\0".getBytes(StandardCharsets.US_ASCII);
        byte[] to = "libQ.so.6\0".getBytes(StandardCharsets.US_ASCII);
        int replaced = 0;
        for (int i = 0; i + from.length <= bytes.length; i++) {
            if (Arrays.equals(bytes, i, i + from.length, from, 0, from.length)) {
                System.arraycopy(to, 0, bytes, i, to.length);
                replaced++;
            }
        }
        assumeTrue(replaced > 0, "the built library does not need libm.so.6");
        Path brokenCuda = Files.write(temp.resolve("cuda-libbloom.so"), bytes);

        LibraryResolver.Result result = LibraryResolver.resolve(variantInputs(null, null, null, null, "linux-x86_64",
                Optional.of(AVX2_CPU), jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", brokenCuda,
                        "native/linux-x86_64/x86-64-v3/libbloom.so", real)), abi));

        assertEquals(Optional.of("x86-64-v3"), result.library().variant());
        assertEquals(List.of(result.library().path()), systemLoaded, "only the CPU variant was loaded for good");
        String reason = result.cudaFallback().orElseThrow();
        assertTrue(reason.startsWith("the dynamic loader refused it: ") && reason.contains("libQ.so.6"), reason);
        String message = NativeLibrary.cudaFallbackMessage(reason, result.library().variant().get());
        assertEquals("bloom4j: the CUDA variant of libbloom.so (bloom4j-natives-cuda) is not used (" + reason + ");"
                + " running on the CPU variant x86-64-v3 (-Dbloom4j.library.variant=cpu skips the CUDA variant)",
                message);
        assertFalse(message.contains("\n"), "one line");

        // The CPU variant chosen outright: no fallback to report.
        systemLoaded.clear();
        result = LibraryResolver.resolve(variantInputs(null, null, "cpu", null, "linux-x86_64", Optional.of(AVX2_CPU),
                jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", brokenCuda,
                        "native/linux-x86_64/x86-64-v3/libbloom.so", real)), abi));
        assertEquals(Optional.of("x86-64-v3"), result.library().variant());
        assertEquals(Optional.empty(), result.cudaFallback());

        // No usable GPU: the CUDA variant is skipped before the dynamic loader sees it; the fallback says why.
        systemLoaded.clear();
        gpuVerdict = Optional.of("the NVIDIA driver lists no GPU");
        result = LibraryResolver.resolve(variantInputs(null, null, null, null, "linux-x86_64", Optional.of(AVX2_CPU),
                jarWith(Map.of("native/linux-x86_64/cuda/libbloom.so", real,
                        "native/linux-x86_64/x86-64-v3/libbloom.so", real)), abi));
        assertEquals(Optional.of("x86-64-v3"), result.library().variant());
        assertEquals(Optional.of("the NVIDIA driver lists no GPU"), result.cudaFallback());
        assertEquals(1, systemLoaded.size());
    }

    @Test
    void unsupportedPlatformSaysWhichOnesTheJarHas() {
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, "", "macos-aarch64", Optional.empty(), jarWith(Map.of()))));
        assertEquals(List.of(
                "system property bloom4j.library.path: not set",
                "environment variable BLOOM4J_LIBRARY_PATH=: empty",
                "jar resources: this jar carries libbloom.so for [linux-aarch64, linux-x86_64] only, not for "
                        + "macos-aarch64"),
                e.attempts());
    }

    @Test
    void aarch64TakesItsOwnDirectoryAndSkipsTheVariantsTheCpuLacks() throws IOException {
        // Neoverse N1 (Graviton 2): dotprod and fp16, no i8mm or SVE. The x86-64 libraries are never looked at.
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        Set<String> n1 = Set.of("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
                "asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop", "asimddp", "ssbs");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-aarch64", Optional.of(n1), jarWith(Map.of(
                        "native/linux-aarch64/armv8.2-a-dotprod-fp16-i8mm-sve/libbloom.so", fake,
                        "native/linux-aarch64/armv8.2-a-dotprod-fp16-i8mm/libbloom.so", fake,
                        "native/linux-aarch64/armv8.2-a-dotprod-fp16/libbloom.so", fake,
                        "native/linux-x86_64/x86-64-v2/libbloom.so", fake)))));
        List<String> attempts = e.attempts();
        assertEquals(6, attempts.size(), attempts::toString);
        assertEquals("jar resource native/linux-aarch64/armv8.2-a-dotprod-fp16-i8mm-sve/libbloom.so: skipped, this CPU"
                + " lacks i8mm, sve (dotprod + fp16 + i8mm + SVE)", attempts.get(2));
        assertEquals("jar resource native/linux-aarch64/armv8.2-a-dotprod-fp16-i8mm/libbloom.so: skipped, this CPU"
                + " lacks i8mm (dotprod + fp16 + i8mm)", attempts.get(3));
        assertTrue(attempts.get(4).startsWith("jar resource native/linux-aarch64/armv8.2-a-dotprod-fp16/libbloom.so "
                + "(extracted to ") && attempts.get(4).contains("the dynamic loader refused it"), attempts::toString);
        assertEquals("jar resource native/linux-aarch64/armv8-a/libbloom.so: not in the jar", attempts.get(5));
    }

    @Test
    void aarch64WithoutAFeaturesLineTriesOnlyTheBaseline() throws IOException {
        Path fake = Files.writeString(temp.resolve("fake.so"), "not a library");
        NativeLibraryLoadError e = assertThrows(NativeLibraryLoadError.class, () -> LibraryResolver.resolve(
                inputs(null, null, "linux-aarch64", Optional.empty(), jarWith(Map.of(
                        "native/linux-aarch64/armv8.2-a-dotprod-fp16/libbloom.so", fake,
                        "native/linux-aarch64/armv8-a/libbloom.so", fake)))));
        List<String> attempts = e.attempts();
        assertEquals("jar resource native/linux-aarch64/armv8.2-a-dotprod-fp16/libbloom.so: skipped, the CPU's flags "
                + "are unknown (no flags or Features line in /proc/cpuinfo), so only the most compatible variant is "
                + "tried", attempts.get(4));
        assertTrue(attempts.get(5).startsWith("jar resource native/linux-aarch64/armv8-a/libbloom.so (extracted to "),
                attempts::toString);
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
