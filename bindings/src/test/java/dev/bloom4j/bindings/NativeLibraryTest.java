package dev.bloom4j.bindings;

import dev.bloom4j.bindings.internal.bloom_h;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Loads the real library; runs where the build put one in target/classes (not with -Dbloom4j.skipNative alone). */
class NativeLibraryTest {

    @Test
    void loadsTheBundledLibraryAndTheBindingsCanCallIt() throws Throwable {
        boolean bundled = CpuVariant.BY_PLATFORM.getOrDefault(NativeLibrary.platform(), java.util.List.of()).stream()
                .anyMatch(v -> NativeLibrary.class.getClassLoader().getResource(
                        "native/" + NativeLibrary.platform() + "/" + v.name() + "/libbloom.so") != null);
        assumeTrue(bundled || System.getProperty(NativeLibrary.PATH_PROPERTY) != null
                || System.getenv(NativeLibrary.PATH_VARIABLE) != null, "no libbloom.so built for this platform");

        NativeLibrary.load();
        LoadedLibrary info = NativeLibrary.info();
        assertTrue(Files.isRegularFile(info.path()), info::toString);
        assertEquals(bloom_h.BLOOM_ABI_VERSION(), info.abiVersion());
        // The generated code finds the symbols through the class loader the library was loaded into.
        assertEquals(bloom_h.BLOOM_ABI_VERSION(), bloom_h.bloom_abi_version());
        NativeLibrary.load();
        assertSame(info, NativeLibrary.info(), "a second load() changes nothing");
    }

    @Test
    void platformFollowsOsNameAndArch() {
        assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "amd64"));
        assertEquals("linux-aarch64", NativeLibrary.platform("Linux", "aarch64"), "OpenJDK on ARM64 Linux");
        assertEquals("linux-aarch64", NativeLibrary.platform("Linux", "arm64"));
        assertEquals("macos-aarch64", NativeLibrary.platform("Mac OS X", "aarch64"));
        assertTrue(CpuVariant.BY_PLATFORM.containsKey(NativeLibrary.platform("Linux", "aarch64")),
                "the jar's aarch64 directory is the one the loader looks in");
    }
}
