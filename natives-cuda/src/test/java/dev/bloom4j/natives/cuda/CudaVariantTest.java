package dev.bloom4j.natives.cuda;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomRuntime;
import dev.bloom4j.Completion;
import dev.bloom4j.Device;
import dev.bloom4j.GenerationConfig;
import dev.bloom4j.LoadOptions;
import dev.bloom4j.checkpoint.DemoCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * This jar on the class path beside bloom4j-bindings, as a user's build puts it: the loader takes its CUDA library
 * where the machine has an NVIDIA GPU, and the CPU variant, saying why, where it has none. Whether a GPU is there is
 * read from the device nodes the NVIDIA driver creates, not from the loader's own check.
 */
class CudaVariantTest {

    private static final String DIRECTORY = "native/linux-x86_64/cuda/";

    @TempDir
    Path temp;

    private static boolean gpuPresent() {
        if (!Files.exists(Path.of("/dev/nvidiactl"))) {
            return false;
        }
        try (Stream<Path> dev = Files.list(Path.of("/dev"))) {
            return dev.anyMatch(p -> p.getFileName().toString().matches("nvidia\\d+"));
        } catch (IOException e) {
            return false;
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = CudaVariantTest.class.getClassLoader().getResourceAsStream(DIRECTORY + name)) {
            assertNotNull(in, DIRECTORY + name + " is not on the class path");
            return in.readAllBytes();
        }
    }

    @Test
    void jarHoldsACudaLibraryAndWhatItNeeds() throws IOException {
        String library = new String(resource("libbloom.so"), StandardCharsets.ISO_8859_1);
        assertTrue(library.startsWith("\u007fELF"), "an ELF file");
        // The dynamic CUDA runtime and cuBLAS, never the driver (ci/build-cuda.sh checks the same with readelf).
        assertTrue(library.contains("libcudart.so.") && library.contains("libcublas.so."), "links the CUDA runtime");
        assertTrue(!library.contains("libcuda.so.1"), "does not link the driver");
        String properties = new String(resource("cuda.properties"), StandardCharsets.UTF_8);
        assertTrue(properties.lines().anyMatch(l -> l.matches("cuda\\.version=\\d+\\.\\d+.*")), properties);
        assertTrue(properties.lines().anyMatch(l -> l.matches("cuda\\.architectures=\\d.*")), properties);
    }

    @Test
    void withoutAGpuTheCpuVariantRunsAndTheReasonIsKept() throws Exception {
        assumeFalse(gpuPresent(), "this machine has an NVIDIA GPU");
        Optional<String> variant = BloomRuntime.libraryVariant();
        assertTrue(variant.isPresent(), "loaded from a jar");
        assertNotEquals("cuda", variant.get());
        String why = BloomRuntime.cudaNotUsed().orElseThrow();
        assertTrue(why.contains("NVIDIA driver") || why.contains("GPU"), why);
        assertEquals(List.of(), BloomRuntime.devices().stream().filter(d -> d.type() == Device.Type.GPU).toList());
        assertTrue(generate(LoadOptions.defaults()).generatedTokens() > 0);
    }

    @Test
    void withAGpuTheCudaVariantRunsOnIt() throws Exception {
        assumeTrue(gpuPresent(), "no NVIDIA GPU here");
        assertEquals(Optional.of("cuda"), BloomRuntime.libraryVariant(),
                () -> "not used: " + BloomRuntime.cudaNotUsed().orElse("?"));
        assertEquals(Optional.empty(), BloomRuntime.cudaNotUsed());
        List<Device> gpus = BloomRuntime.devices().stream().filter(d -> d.type() == Device.Type.GPU).toList();
        assertTrue(!gpus.isEmpty(), BloomRuntime.devices()::toString);
        // Every layer on the GPU and the CPU alone: the same greedy tokens (random weights, so ties are unlikely).
        Completion onGpu = generate(LoadOptions.defaults());
        Completion onCpu = generate(LoadOptions.builder().gpuLayers(0).build());
        assertEquals(onCpu.text(), onGpu.text());
    }

    private Completion generate(LoadOptions options) throws Exception {
        Path demo = DemoCheckpoint.ensure(temp);
        try (BloomModel model = BloomModel.load(demo, options);
             var session = model.newSession()) {
            return session.generate("The capital of France is", GenerationConfig.greedy().maxTokens(8));
        }
    }
}
