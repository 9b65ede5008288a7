package dev.bloom4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class GenerationConfigTest {

    @Test
    void greedyIsTheNativeDefaults() {
        GenerationConfig g = GenerationConfig.greedy();
        // The values bloom.h documents for bloom_sampler_default_params() / bloom_generate_default_params().
        assertEquals(128, g.maxTokens());
        assertEquals(0.0, g.temperature());
        assertEquals(0, g.topK());
        assertEquals(1.0, g.topP());
        assertEquals(0.0, g.minP());
        assertEquals(1.0, g.repetitionPenalty());
        assertEquals(0.0, g.presencePenalty());
        assertEquals(0.0, g.frequencyPenalty());
        assertEquals(-1, g.penaltyLastN());
        assertEquals(0x5EEDL, g.seed());
        assertEquals(List.of(), g.stop());
        assertEquals(false, g.ignoreEos());
        assertEquals(1, g.n());
        assertEquals(g, GenerationConfig.builder().build());
    }

    @Test
    void samplingStartsFromHuggingFaceDoSampleDefaults() {
        GenerationConfig s = GenerationConfig.sampling();
        assertEquals(1.0, s.temperature());
        assertEquals(50, s.topK());
        assertEquals(GenerationConfig.greedy().maxTokens(), s.maxTokens());
    }

    @Test
    void withersAndBuilderAgree() {
        GenerationConfig a = GenerationConfig.greedy().maxTokens(7).temperature(0.5).topK(3).topP(0.9).minP(0.05)
                .repetitionPenalty(1.1).presencePenalty(0.2).frequencyPenalty(0.3).penaltyLastN(64).seed(9)
                .stop("x", "y").ignoreEos(true).n(3);
        GenerationConfig b = GenerationConfig.builder().maxTokens(7).temperature(0.5).topK(3).topP(0.9).minP(0.05)
                .repetitionPenalty(1.1).presencePenalty(0.2).frequencyPenalty(0.3).penaltyLastN(64).seed(9)
                .addStop("x").addStop("y").ignoreEos(true).n(3).build();
        assertEquals(a, b);
        assertEquals(a, a.toBuilder().build());
        assertEquals(List.of("x", "y"), a.stop());
    }

    @Test
    void stopListIsCopiedAndImmutable() {
        List<String> mutable = new java.util.ArrayList<>(List.of("a"));
        GenerationConfig c = GenerationConfig.greedy().stop(mutable);
        mutable.add("b");
        assertEquals(List.of("a"), c.stop());
        assertThrows(UnsupportedOperationException.class, () -> c.stop().add("c"));
    }

    static Stream<Arguments> invalidValues() {
        GenerationConfig g = GenerationConfig.greedy();
        return Stream.of(
                Arguments.of("maxTokens", (Supplier<?>) () -> g.maxTokens(-1)),
                Arguments.of("temperature", (Supplier<?>) () -> g.temperature(-0.1)),
                Arguments.of("temperature", (Supplier<?>) () -> g.temperature(Double.NaN)),
                Arguments.of("temperature", (Supplier<?>) () -> g.temperature(1e300)),
                Arguments.of("topK", (Supplier<?>) () -> g.topK(-1)),
                Arguments.of("topP", (Supplier<?>) () -> g.topP(0)),
                Arguments.of("topP", (Supplier<?>) () -> g.topP(1.5)),
                Arguments.of("minP", (Supplier<?>) () -> g.minP(-0.01)),
                Arguments.of("minP", (Supplier<?>) () -> g.minP(1.01)),
                Arguments.of("repetitionPenalty", (Supplier<?>) () -> g.repetitionPenalty(0)),
                Arguments.of("repetitionPenalty", (Supplier<?>) () -> g.repetitionPenalty(-1)),
                Arguments.of("presencePenalty", (Supplier<?>) () -> g.presencePenalty(Double.POSITIVE_INFINITY)),
                Arguments.of("frequencyPenalty", (Supplier<?>) () -> g.frequencyPenalty(Double.NaN)),
                Arguments.of("penaltyLastN", (Supplier<?>) () -> g.penaltyLastN(-2)),
                Arguments.of("stop[1]", (Supplier<?>) () -> g.stop("ok", "")),
                Arguments.of("stop[0]", (Supplier<?>) () -> g.stop(Arrays.asList((String) null))),
                Arguments.of("n", (Supplier<?>) () -> g.n(0)),
                Arguments.of("n", (Supplier<?>) () -> g.n(257)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidValues")
    void invalidValuesNameTheField(String field, Supplier<?> build) {
        var e = assertThrows(IllegalArgumentException.class, build::get);
        assertTrue(e.getMessage().startsWith(field + " "), e.getMessage());
        assertTrue(e.getMessage().contains("got"), e.getMessage());
    }

    @Test
    void boundaryValuesAreAccepted() {
        GenerationConfig g = GenerationConfig.greedy();
        g.maxTokens(0);
        g.topP(1);
        g.minP(0).minP(1);
        g.penaltyLastN(-1).penaltyLastN(0);
        g.presencePenalty(-2).frequencyPenalty(-2);
        g.temperature(0);
        g.n(1).n(256);
    }
}
