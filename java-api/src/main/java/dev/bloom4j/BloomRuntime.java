package dev.bloom4j;

import dev.bloom4j.bindings.LoadedLibrary;
import dev.bloom4j.bindings.NativeLibrary;
import dev.bloom4j.bindings.internal.bloom_h;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Facts about the native library this JVM runs: its version, build and where it was loaded from. Calling any
 * method loads the library if that has not happened yet.
 * {@snippet :
 * System.out.println("bloom4j native " + BloomRuntime.version());
 * System.out.println("loaded from " + BloomRuntime.libraryPath()
 *         + BloomRuntime.libraryVariant().map(v -> " (" + v + ")").orElse(""));
 * }
 */
public final class BloomRuntime {

    private BloomRuntime() {}

    /** {@code bloom_version_string()}: "MAJOR.MINOR.PATCH (ggml X.Y.Z, cpu features)". */
    public static String version() {
        Native.init();
        return Native.cString(bloom_h.bloom_version_string());
    }

    /** The ABI version the library reports ({@code bloom_abi_version()}); the loader checked it matches. */
    public static int abiVersion() {
        return loaded().abiVersion();
    }

    /** The libbloom.so file that was loaded (for the jar's library, the extracted copy). */
    public static Path libraryPath() {
        return loaded().path();
    }

    /** Where the library came from, e.g. a system property, an environment variable or a jar resource. */
    public static String libraryOrigin() {
        return loaded().origin();
    }

    /** The CPU variant of the jar's library ({@code x86-64-v3}, {@code x86-64-v2}); empty for a library given by path. */
    public static Optional<String> libraryVariant() {
        return loaded().variant();
    }

    private static LoadedLibrary loaded() {
        Native.init();
        return NativeLibrary.info();
    }
}
