package dev.bloom4j.bindings;

import dev.bloom4j.bindings.internal.bloom_h;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Loads libbloom.so into this JVM so that the generated bindings ({@code dev.bloom4j.bindings.internal.bloom_h},
 * which resolve symbols through {@link java.lang.foreign.SymbolLookup#loaderLookup()}) can call it.
 *
 * <p>The library is taken from the first of these places that has a usable one:
 * <ol>
 *   <li>the system property {@code bloom4j.library.path}: a libbloom.so, or a directory holding one;</li>
 *   <li>the environment variable {@code BLOOM4J_LIBRARY_PATH}, the same;</li>
 *   <li>the jar, {@code native/<os>-<arch>/<variant>/libbloom.so}, the best variant this CPU can run according to
 *       /proc/cpuinfo ({@code x86-64-v4-vnni-bf16} needs AVX-512 F/CD/VL/DQ/BW, VNNI and BF16; {@code x86-64-v4}
 *       the five AVX-512 sets; {@code x86-64-v3} AVX2, FMA, F16C and BMI2; {@code x86-64-v2} is the fallback; a
 *       {@code native} build from {@code -Pnative} comes first when present); on aarch64 ({@code linux-aarch64},
 *       from the Features line) {@code armv8.2-a-dotprod-fp16-i8mm-sve}, {@code armv8.2-a-dotprod-fp16-i8mm},
 *       {@code armv8.2-a-dotprod-fp16} (asimddp, fphp, asimdhp and the armv8.1-a atomics, crc32, asimdrdm; i8mm;
 *       sve), and {@code armv8-a} as the fallback. The {@code cuda} build (x86-64-v3 with
 *       ggml's CUDA backend), present when the {@code bloom4j-natives-cuda} jar is on the class path, comes before
 *       all of them where the NVIDIA driver ({@code libcuda.so.1}) lists a GPU it has code for; where there is none,
 *       or the dynamic loader refuses it (no libcudart.so.13 or libcublas.so.13 on the library path), one warning
 *       says why ({@link #cudaNotUsed()}) and the CPU variant is loaded instead. A library is extracted to {@code ~/.cache/bloom4j/lib/<sha256>/libbloom.so} (or under
 *       {@code bloom4j.cache.dir}, {@code $BLOOM_CACHE_DIR}, {@code $XDG_CACHE_HOME/bloom4j}) and reused by later
 *       runs.</li>
 * </ol>
 * The system property {@code bloom4j.library.variant} (or the variable {@code BLOOM4J_LIBRARY_VARIANT}) limits the
 * jar to one variant ({@code cuda}, {@code x86-64-v3}, ...: no fallback then), or to the CPU ones with {@code cpu}.
 * Before a library is loaded for good, its {@code bloom_abi_version()} is compared with the BLOOM_ABI_VERSION the
 * bindings were generated from; a library built from other sources is skipped. When no place works,
 * {@link NativeLibraryLoadError} lists each one and why it failed.
 *
 * <pre>{@code
 * NativeLibrary.load();                       // idempotent; every API entry point calls it
 * System.out.println(NativeLibrary.info());   // /home/me/.cache/bloom4j/lib/3f2a.../libbloom.so (jar resource ...)
 * }</pre>
 *
 * <p>Thread-safe: concurrent first calls load the library once.
 */
public final class NativeLibrary {

    /** System property naming a libbloom.so (or its directory) to load instead of the jar's. */
    public static final String PATH_PROPERTY = LibraryResolver.PATH_PROPERTY;
    /** Environment variable naming a libbloom.so (or its directory), used when the property is not set. */
    public static final String PATH_VARIABLE = LibraryResolver.PATH_VARIABLE;
    /**
     * System property naming the one jar variant to load ({@code cuda}, {@code native}, {@code x86-64-v4-vnni-bf16},
     * {@code x86-64-v4}, {@code x86-64-v3}, {@code x86-64-v2}; on aarch64 {@code armv8-a} and the others of
     * {@link CpuVariant#BY_PLATFORM}), or {@code cpu} for the best CPU variant, never the CUDA one.
     */
    public static final String VARIANT_PROPERTY = LibraryResolver.VARIANT_PROPERTY;
    /** Environment variable with the values of {@link #VARIANT_PROPERTY}, used when the property is not set. */
    public static final String VARIANT_VARIABLE = LibraryResolver.VARIANT_VARIABLE;
    /** System property naming the cache directory that libraries from the jar are extracted to. */
    public static final String CACHE_PROPERTY = "bloom4j.cache.dir";

    private static final System.Logger LOG = System.getLogger(NativeLibrary.class.getName());
    private static final Object LOCK = new Object();
    private static volatile LoadedLibrary loaded;
    private static volatile Optional<String> cudaNotUsed = Optional.empty();

    private NativeLibrary() {
    }

    /**
     * Loads libbloom.so unless this JVM already did. Failures are not remembered: a later call tries again.
     *
     * @throws NativeLibraryLoadError when no usable library was found; the message lists every place tried
     */
    public static void load() {
        if (loaded != null) {
            return;
        }
        synchronized (LOCK) {
            if (loaded != null) {
                return;
            }
            LibraryResolver.Result result = LibraryResolver.resolve(new LibraryResolver.Inputs(
                    Optional.ofNullable(System.getProperty(PATH_PROPERTY)),
                    Optional.ofNullable(System.getenv(PATH_VARIABLE)),
                    Optional.ofNullable(System.getProperty(VARIANT_PROPERTY)),
                    Optional.ofNullable(System.getenv(VARIANT_VARIABLE)),
                    platform(),
                    cpuFlags(),
                    NativeLibrary.class.getClassLoader()::getResource,
                    cacheRoot(),
                    bloom_h.BLOOM_ABI_VERSION(),
                    // A lambda here, not System::load passed around: System.load binds the library to the class
                    // loader of its caller, which must be the bindings' own.
                    path -> System.load(path.toString()),
                    CudaCheck.againstDriver()));
            LoadedLibrary library = result.library();
            // A path the user set but that did not work is worth a warning even though the jar's library did.
            if (result.failedBefore().stream().anyMatch(NativeLibrary::isExplicitFailure)) {
                LOG.log(System.Logger.Level.WARNING, "bloom4j: loaded {0} after these failed:\n  {1}", library,
                        String.join("\n  ", result.failedBefore()));
            } else {
                LOG.log(System.Logger.Level.DEBUG, "bloom4j: loaded {0}", library);
            }
            if (result.cudaFallback().isPresent()) {
                LOG.log(System.Logger.Level.WARNING, cudaFallbackMessage(result.cudaFallback().get(),
                        library.variant().orElse("?")));
            }
            cudaNotUsed = result.cudaFallback();
            loaded = library;
        }
    }

    /**
     * The library this JVM loaded, loading it first if needed.
     *
     * @throws NativeLibraryLoadError when no usable library was found
     */
    public static LoadedLibrary info() {
        load();
        return loaded;
    }

    /**
     * Why the CUDA variant on the class path (the {@code bloom4j-natives-cuda} jar) was not loaded, when it is there
     * and a CPU variant was loaded instead: e.g. {@code no NVIDIA driver: libcuda.so.1: cannot open shared
     * object file: No such file or directory}. Empty when there is no CUDA variant, it was loaded, or a variant
     * choice excluded it. Loads the library first if needed.
     *
     * @throws NativeLibraryLoadError when no usable library was found
     */
    public static Optional<String> cudaNotUsed() {
        load();
        return cudaNotUsed;
    }

    /** The one line logged when the class path's CUDA variant was not used and a CPU variant was. */
    static String cudaFallbackMessage(String reason, String cpuVariant) {
        return "bloom4j: the CUDA variant of libbloom.so (bloom4j-natives-cuda) is not used (" + reason + "); running"
                + " on the CPU variant " + cpuVariant + " (-D" + VARIANT_PROPERTY + "=" + LibraryResolver.CPU_CHOICE
                + " skips the CUDA variant)";
    }

    private static boolean isExplicitFailure(String attempt) {
        return (attempt.startsWith("system property") || attempt.startsWith("environment variable"))
                && !attempt.endsWith(": not set");
    }

    /** {@code <os>-<arch>} in the jar's naming, e.g. {@code linux-x86_64}. */
    static String platform() {
        return platform(System.getProperty("os.name", "unknown"), System.getProperty("os.arch", "unknown"));
    }

    /**
     * {@code <os>-<arch>} for these values of the {@code os.name} and {@code os.arch} properties: {@code linux-x86_64}
     * for Linux on {@code amd64}, {@code linux-aarch64} for Linux on {@code aarch64} (what OpenJDK reports on ARM64
     * Linux) or {@code arm64}.
     */
    static String platform(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        }
        String arch = osArch.toLowerCase(Locale.ROOT);
        arch = switch (arch) {
            case "amd64", "x86_64", "x86-64" -> "x86_64";
            case "arm64", "aarch64" -> "aarch64";
            default -> arch;
        };
        return os + "-" + arch;
    }

    /**
     * This CPU's flags (x86-64) or features (aarch64), or empty where /proc/cpuinfo is missing or has neither line
     * (not Linux, or another architecture).
     */
    static Optional<Set<String>> cpuFlags() {
        try {
            return CpuVariant.parseCpuInfoFlags(Files.readString(Path.of("/proc/cpuinfo")));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The first of: -Dbloom4j.cache.dir, $BLOOM_CACHE_DIR, $XDG_CACHE_HOME/bloom4j, ~/.cache/bloom4j. */
    static Path cacheRoot() {
        String property = System.getProperty(CACHE_PROPERTY);
        if (property != null && !property.isBlank()) {
            return Path.of(property);
        }
        // The same directory CMake caches the pinned ggml sources in (cmake/ggml.cmake).
        String variable = System.getenv("BLOOM_CACHE_DIR");
        if (variable != null && !variable.isBlank()) {
            return Path.of(variable);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        try {
            if (xdg != null && !xdg.isBlank()) {
                return Path.of(xdg, "bloom4j");
            }
        } catch (InvalidPathException e) {
            // fall through to the home directory
        }
        return Path.of(System.getProperty("user.home"), ".cache", "bloom4j");
    }
}
