package dev.bloom4j.bindings;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuVariantTest {

    // Abridged from real machines' /proc/cpuinfo.
    private static final String HASWELL = """
            processor	: 0
            vendor_id	: GenuineIntel
            model name	: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz
            flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse \
            sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma \
            cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm bmi1 avx2 smep \
            bmi2 erms invpcid xsaveopt
            bugs		: cpu_meltdown spectre_v1
            
            processor	: 1
            flags		: fpu vme de pse tsc
            """;
    private static final String NEHALEM = """
            processor	: 0
            model name	: Intel(R) Xeon(R) CPU X5570 @ 2.93GHz
            flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx \
            fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc pni dtes64 monitor ds_cpl vmx est tm2 ssse3 \
            cx16 xtpr pdcm dca sse4_1 sse4_2 popcnt lahf_lm
            """;
    // Ivy Bridge: AVX and F16C but no AVX2, FMA or BMI2.
    private static final String IVY_BRIDGE_FLAGS = "flags : sse2 ssse3 sse4_1 sse4_2 popcnt avx f16c";

    private static List<String> names(List<CpuVariant> variants) {
        return variants.stream().map(CpuVariant::name).toList();
    }

    private static CpuVariant variant(String name) {
        return CpuVariant.BY_PLATFORM.get("linux-x86_64").stream().filter(v -> v.name().equals(name)).findFirst()
                .orElseThrow();
    }

    @Test
    void cudaVariantComesFirstAndIsTheOnlyCudaOne() {
        List<CpuVariant> all = CpuVariant.BY_PLATFORM.get("linux-x86_64");
        assertEquals("cuda", all.getFirst().name());
        assertEquals(List.of("cuda"), names(all.stream().filter(CpuVariant::isCuda).toList()));
        assertEquals("-Pcuda", all.getFirst().profile());
        assertEquals("", variant("x86-64-v3").profile());
    }

    @Test
    void parsesTheFirstFlagsLine() {
        Set<String> flags = CpuVariant.parseCpuInfoFlags(HASWELL).orElseThrow();
        assertTrue(flags.containsAll(Set.of("avx2", "fma", "f16c", "bmi2", "sse4_2")), flags::toString);
        assertEquals(Optional.empty(), CpuVariant.parseCpuInfoFlags("processor : 0\nBogoMIPS : 50.00\n"));
    }

    @Test
    void avx2MachinePrefersCudaThenV3ThenV2() {
        assertEquals(List.of("cuda", "native", "x86-64-v3", "x86-64-v2"),
                names(CpuVariant.runnable("linux-x86_64", CpuVariant.parseCpuInfoFlags(HASWELL))));
    }

    @Test
    void machineWithoutAvx2GetsOnlyV2() {
        assertEquals(List.of("native", "x86-64-v2"),
                names(CpuVariant.runnable("linux-x86_64", CpuVariant.parseCpuInfoFlags(NEHALEM))));
        Optional<Set<String>> ivy = CpuVariant.parseCpuInfoFlags(IVY_BRIDGE_FLAGS);
        assertEquals(List.of("native", "x86-64-v2"), names(CpuVariant.runnable("linux-x86_64", ivy)));
        assertEquals(Set.of("avx2", "bmi2", "fma"), variant("x86-64-v3").missingFlags(ivy.orElseThrow()));
        assertEquals(Set.of("avx2", "bmi2", "fma"), variant("cuda").missingFlags(ivy.orElseThrow()),
                "the CUDA build's CPU code is x86-64-v3");
    }

    @Test
    void machineWithoutSse42GetsNoPackagedVariant() {
        assertEquals(List.of("native"),
                names(CpuVariant.runnable("linux-x86_64", Optional.of(Set.of("sse2", "ssse3")))));
    }

    @Test
    void unknownFlagsTryOnlyTheMostCompatibleVariant() {
        assertEquals(List.of("native", "x86-64-v2"), names(CpuVariant.runnable("linux-x86_64", Optional.empty())));
    }

    @Test
    void unknownPlatformHasNoVariants() {
        assertEquals(List.of(), CpuVariant.runnable("linux-aarch64", Optional.of(Set.of("neon"))));
    }
}
