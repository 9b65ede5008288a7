package dev.bloom4j.cli;

import dev.bloom4j.BloomModel;
import dev.bloom4j.BloomRuntime;
import dev.bloom4j.ModelInfo;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code bloom info}: what a checkpoint is and which native library runs it. */
@Command(
        name = "info",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        defaultValueProvider = NativeDefaults.class,
        description = {
            "Describe a checkpoint: hyper-parameters, weight type, parameter count, special tokens; and the native "
                    + "library: version, file and CPU variant (and, where the CUDA library is on the class path but "
                    + "was not taken, why not).",
            ""},
        footer = {"", "Example:", "  bloom info --model ~/models/bloom-560m --json"})
final class InfoCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--json", description = "Print one JSON object instead of aligned text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        try (BloomModel model = modelOptions.load(main)) {
            ModelInfo info = model.info();
            o.put("model", model.path().toString());
            o.put("vocab_size", info.vocabularySize());
            o.put("tokenizer_vocab_size", info.tokenizerVocabularySize());
            o.put("training_context", info.trainingContextLength());
            o.put("layers", info.layerCount());
            o.put("embedding_size", info.embeddingSize());
            o.put("heads", info.headCount());
            o.put("parameters", info.parameterCount());
            o.put("weight_type", info.weightType().nativeName());
            o.put("layer_norm_epsilon", info.layerNormEpsilon());
            o.put("bos_token", token(info.bosToken()));
            o.put("eos_token", token(info.eosToken()));
            o.put("pad_token", token(info.padToken()));
            o.put("unk_token", token(info.unkToken()));
            o.put("repacked_matrices", info.repackedMatrices());
            o.put("gpu_layers", info.gpuLayers());
            o.put("gpu_device", token(info.gpuDevice()));
        }
        o.put("library_version", BloomRuntime.version());
        o.put("library_path", BloomRuntime.libraryPath().toString());
        o.put("library_origin", BloomRuntime.libraryOrigin());
        o.put("library_variant", BloomRuntime.libraryVariant().orElse(null));
        // Only where the bloom4j-natives-cuda jar is on the class path but its library was not taken.
        BloomRuntime.cudaNotUsed().ifPresent(why -> o.put("cuda_not_used", why));
        if (json) {
            Json.print(main.out, o);
        } else {
            int width = o.keySet().stream().mapToInt(String::length).max().orElse(0);
            o.forEach((key, value) -> main.out.println(
                    String.format("%-" + width + "s  %s", key, value == null ? "-" : value)));
        }
        return 0;
    }

    private static Integer token(OptionalInt id) {
        return id.isPresent() ? id.getAsInt() : null;
    }
}
