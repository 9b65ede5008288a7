package dev.bloom4j.cli;

import dev.bloom4j.BloomConverter;
import dev.bloom4j.ConvertOptions;
import dev.bloom4j.FileType;
import java.io.Console;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.TypeConversionException;

/** {@code bloom convert}: write a model as a GGUF file, quantized or not. */
@Command(
        name = "convert",
        mixinStandardHelpOptions = true,
        defaultValueProvider = NativeDefaults.class,
        sortOptions = false,
        description = {
            "Write a model as a GGUF file the way llama.cpp's convert_hf_to_gguf.py and llama-quantize lay it out, "
                    + "tokenizer included, so that llama.cpp (and bloom4j) can run it. The input is a Hugging Face "
                    + "checkpoint directory, or a GGUF file to re-quantize (it is dequantized from its stored type "
                    + "first).",
            "The file is written under a temporary name and renamed at the end: a failed run leaves no partial "
                    + "file. A progress bar shows on a terminal; a summary line follows on stdout.",
            ""},
        footer = {"", "Examples:",
            "  bloom convert --model ~/models/bloom-560m --out bloom-560m-f16.gguf --type f16",
            "  bloom convert --model bloom-560m-f16.gguf --out bloom-560m-q4_k_m.gguf --type q4_k_m --threads 4"})
final class ConvertCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL", required = true,
            description = "The model to convert: a Hugging Face BLOOM checkpoint directory or a GGUF file, or a hub "
                    + "name org/name[@revision][:quant] (fetched into the hub cache when missing, as for --model "
                    + "elsewhere).")
    String model;

    @Option(names = {"-o", "--out"}, paramLabel = "FILE", required = true,
            description = "The GGUF file to write. An existing file is replaced, once the conversion succeeded.")
    Path out;

    @Option(names = "--type", paramLabel = "TYPE", converter = FileTypeConverter.class,
            completionCandidates = FileTypeNames.class,
            description = "What to write, as llama-quantize names it (case-insensitive): ${COMPLETION-CANDIDATES}. "
                    + "f32, f16, bf16 and q8_0 store every weight matrix in that type; the other types follow "
                    + "llama-quantize's per-tensor rules: the (tied) embedding matrix stays at q6_k, and q2_k and "
                    + "the K-quant mixes (_s, _m, _l) keep more matrices at a higher precision. Layer norms and "
                    + "biases stay f32. "
                    + "Default: ${DEFAULT-VALUE}.")
    FileType type;

    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for quantizing; 0 = one per core. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Override
    public Integer call() throws IOException {
        ConvertOptions.Builder options = ConvertOptions.builder().threads(threads);
        if (type != null) {
            options.fileType(type);
        }
        Path input = ModelOptions.resolve(main, model);
        Console console = System.console();
        ProgressBar bar = null;
        if (console != null && console.isTerminal()) {
            bar = new ProgressBar(main.err, "converting " + input.getFileName());
            options.progress(bar::update);
        }
        ConvertOptions built = options.build();
        long started = System.nanoTime();
        try {
            BloomConverter.convert(input, out, built);
        } finally {
            if (bar != null) {
                bar.clear();
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        long bytes = Files.size(out);
        main.out.println(String.format(Locale.ROOT, "wrote %s: %s, %s in %.1f s", out, built.fileType().nativeName(),
                humanBytes(bytes), seconds));
        return 0;
    }

    /** 1.5 MiB, 559.2 MiB, 1.04 GiB: enough digits to compare file types at a glance. */
    static String humanBytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, value < 10 ? "%.2f %s" : "%.1f %s", value, units[unit]);
    }

    /** Parses a file type name through the native library, whose message lists the valid names. */
    static final class FileTypeConverter implements ITypeConverter<FileType> {
        @Override
        public FileType convert(String value) {
            try {
                return FileType.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /**
     * The file type names for --help, without loading the native library (help must work without it): the enum
     * constants are named as the library spells the types, in upper case.
     */
    static final class FileTypeNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            List<String> names = new ArrayList<>();
            for (FileType t : FileType.values()) {
                names.add(t.name().toLowerCase(Locale.ROOT));
            }
            return names.iterator();
        }
    }
}
