package dev.bloom4j.bindings;

import dev.bloom4j.bindings.CudaCheck.Architecture;
import dev.bloom4j.bindings.CudaCheck.Device;
import dev.bloom4j.bindings.CudaCheck.DriverState;
import dev.bloom4j.bindings.CudaCheck.Requirements;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The CUDA variant's GPU check on made-up driver answers, and the real driver query where there is no driver. */
class CudaCheckTest {

    private static final Requirements CUDA13_80_90 = Requirements.parse(
            "# written by CMake\ncuda.version=13.0.88\ncuda.architectures=80;90\n");
    private static final Device H200 = new Device(0, "NVIDIA H200", 9, 0);
    private static final Device A10 = new Device(1, "NVIDIA A10", 8, 6);
    private static final Device T4 = new Device(0, "Tesla T4", 7, 5);
    private static final Device B200 = new Device(0, "NVIDIA B200", 10, 0);

    private static DriverState driver(int version, Device... devices) {
        return new DriverState(Optional.empty(), 0, "", version, List.of(devices));
    }

    private static boolean runs(String entry, int major, int minor) {
        return Architecture.parse(entry).orElseThrow().runsOn(major, minor);
    }

    @Test
    void architectureEntriesFollowCmakesMeaning() {
        // Plain: machine code for the same major version, PTX that newer GPUs compile.
        assertTrue(runs("80", 8, 0));
        assertTrue(runs("80", 8, 6));
        assertTrue(runs("80", 9, 0));
        assertFalse(runs("80", 7, 5));
        assertFalse(runs("86", 8, 0));
        // -real: machine code only, so not for another major version.
        assertTrue(runs("90-real", 9, 0));
        assertFalse(runs("90-real", 10, 0));
        assertFalse(runs("80-real", 9, 0));
        // -virtual: PTX only, for that version and newer.
        assertTrue(runs("80-virtual", 12, 0));
        assertFalse(runs("80-virtual", 7, 5));
        // 90a: the arch-specific features of 9.0 only.
        assertTrue(runs("90a", 9, 0));
        assertFalse(runs("90a", 10, 0));
        assertTrue(runs("120", 12, 0));
        assertEquals(Optional.empty(), Architecture.parse("all-major"));
        assertEquals(Optional.empty(), Architecture.parse("native"));
    }

    @Test
    void requirementsComeFromThePropertiesText() {
        assertEquals(Optional.of(13), CUDA13_80_90.cudaMajor());
        assertEquals(List.of(Architecture.parse("80").orElseThrow(), Architecture.parse("90").orElseThrow()),
                CUDA13_80_90.architectures());
        Requirements commas = Requirements.parse("cuda.architectures=80-virtual,90-real");
        assertEquals(Optional.empty(), commas.cudaMajor());
        assertEquals(2, commas.architectures().size());
        // One entry not understood: nothing about architectures is checked.
        assertEquals(List.of(), Requirements.parse("cuda.architectures=80;native").architectures());
        assertEquals(Requirements.UNKNOWN.cudaMajor(), Requirements.parse("cuda.version=thirteen").cudaMajor());
    }

    @Test
    void aGpuWithCodeForItIsUsable() {
        assertEquals(Optional.empty(), CudaCheck.whyUnusable(CUDA13_80_90, driver(13000, H200)));
        assertEquals(Optional.empty(), CudaCheck.whyUnusable(CUDA13_80_90, driver(13020, T4, A10)),
                "one usable GPU of two is enough");
        assertEquals(Optional.empty(), CudaCheck.whyUnusable(CUDA13_80_90, driver(13000, B200)), "through PTX");
        assertEquals(Optional.empty(), CudaCheck.whyUnusable(Requirements.UNKNOWN, driver(12040, T4)),
                "nothing known, nothing refused");
    }

    @Test
    void eachReasonNamesTheProblem() {
        assertEquals(Optional.of("no NVIDIA driver: libcuda.so.1: cannot open shared object file"),
                CudaCheck.whyUnusable(CUDA13_80_90,
                        DriverState.noDriver("libcuda.so.1: cannot open shared object file")));
        assertEquals(Optional.of("the NVIDIA driver's cuInit failed with CUDA_ERROR_NO_DEVICE (100): no GPU is"
                        + " visible (CUDA_VISIBLE_DEVICES, container device options)"),
                CudaCheck.whyUnusable(CUDA13_80_90,
                        new DriverState(Optional.empty(), 100, "CUDA_ERROR_NO_DEVICE", 0, List.of())));
        assertEquals(Optional.of("the NVIDIA driver supports CUDA 12.4, this build needs CUDA 13.0 or later (update"
                + " the driver)"), CudaCheck.whyUnusable(CUDA13_80_90, driver(12040, H200)));
        assertEquals(Optional.of("the NVIDIA driver lists no GPU"),
                CudaCheck.whyUnusable(CUDA13_80_90, driver(13000)));
        assertEquals(Optional.of("no GPU here can run this build's code (GPU 0 Tesla T4 (compute capability 7.5);"
                + " the build has code for compute capability 8.0, 9.0, cuda.architectures=80;90)"),
                CudaCheck.whyUnusable(CUDA13_80_90, driver(13000, T4)));
    }

    @Test
    void theRealQueryReportsAMissingDriver() {
        assumeFalse(Files.exists(Path.of("/dev/nvidiactl")), "this machine has an NVIDIA driver");
        DriverState state = CudaCheck.queryDriver();
        // Either no libcuda.so.1 at all, or a driver library without a device node (a container without GPUs).
        assertTrue(state.unavailable().isPresent() || state.initError() != 0 || state.devices().isEmpty(),
                state::toString);
        assertTrue(CudaCheck.whyUnusable(CUDA13_80_90, state).isPresent());
    }
}
