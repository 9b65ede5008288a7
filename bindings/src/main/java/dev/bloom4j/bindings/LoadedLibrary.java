package dev.bloom4j.bindings;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * The libbloom.so that {@link NativeLibrary#load()} loaded into this JVM, for {@code bloom info} and logs.
 *
 * <pre>{@code
 * LoadedLibrary lib = NativeLibrary.info();
 * System.out.println(lib.path() + " (" + lib.origin() + ")");
 * }</pre>
 *
 * @param path       the file that was loaded (for a library from the jar: the extracted copy in the cache)
 * @param origin     where it came from, e.g. {@code system property bloom4j.library.path} or
 *                   {@code jar resource native/linux-x86_64/x86-64-v3/libbloom.so}
 * @param variant    the jar variant ({@code cuda}, {@code x86-64-v4-vnni-bf16}, {@code x86-64-v3}, {@code native},
 *                   {@code armv8.2-a-dotprod-fp16}, ...) when the library came from the jar; empty for a library given by path, whose build is unknown
 * @param abiVersion the {@code bloom_abi_version()} the library reported, equal to the bindings' BLOOM_ABI_VERSION
 */
public record LoadedLibrary(Path path, String origin, Optional<String> variant, int abiVersion) {

    public LoadedLibrary {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(origin, "origin");
        Objects.requireNonNull(variant, "variant");
    }

    @Override
    public String toString() {
        return path + " (" + origin + variant.map(v -> ", variant " + v).orElse("") + ", ABI " + abiVersion + ")";
    }
}
