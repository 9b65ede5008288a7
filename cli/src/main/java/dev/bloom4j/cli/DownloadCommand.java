package dev.bloom4j.cli;

import dev.bloom4j.HubConfig;
import dev.bloom4j.HubModels;
import dev.bloom4j.HubName;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code bloom download}: fetch a model from the Hugging Face hub into its cache, without running it. */
@Command(
        name = "download",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Fetch a model from the Hugging Face hub into the hub cache that Python's transformers and "
                    + "huggingface_hub use, and print where it is. Files already cached are not fetched again; a "
                    + "download that was cut resumes. Afterwards --model with the same name works offline "
                    + "(HF_HUB_OFFLINE=1), and transformers finds the files too.",
            "",
            "What is fetched: for a safetensors checkpoint config.json, tokenizer.json, tokenizer_config.json (if "
                    + "present) and model.safetensors or model.safetensors.index.json with its shards, never "
                    + "pytorch_model.bin and the like; with :QUANT, or in a repository of GGUF files only, one GGUF "
                    + "file: the one whose quantization label is QUANT (case-insensitive), else whose name contains "
                    + "it; without QUANT, Q4_K_M as llama.cpp's -hf picks it, else the first present of Q4_K_S, "
                    + "Q5_K_M, Q4_0, Q5_0, Q6_K, Q8_0, F16, BF16, F32.",
            "",
            "Environment: HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub), HF_ENDPOINT (default "
                    + "https://huggingface.co), HF_TOKEN (else the file $HF_HOME/token) for private and gated "
                    + "repositories, HF_HUB_OFFLINE=1 to use the cache only.",
            ""},
        footer = {"", "Examples:",
            "  bloom download bigscience/bloom-560m",
            "  bloom download bigscience/bloom-560m@main --verify",
            "  bloom download someone/bloom-560m-GGUF:q8_0",
            "  bloom generate --model bigscience/bloom-560m --prompt \"Hello\""})
final class DownloadCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME",
            description = "The model: org/name[@revision][:quant], e.g. bigscience/bloom-560m. REVISION is a "
                    + "branch, tag or commit (default main).")
    String name;

    @Option(names = "--verify",
            description = "Also check every file already in the cache against its hash (the sha256 an LFS file is "
                    + "named by, the git hash of the others) and fetch a file that does not match again.")
    boolean verify;

    @Option(names = "--json", description = "Print one JSON object {\"name\", \"path\"} instead of the path alone.")
    boolean json;

    @Override
    public Integer call() {
        HubName hubName;
        try {
            hubName = HubName.parse(name);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        DownloadProgress progress = new DownloadProgress(main.err, hubName.toString());
        Path path;
        try {
            path = HubModels.of(HubConfig.fromEnvironment(main.env)).download(hubName, progress, verify);
        } finally {
            progress.finish();
        }
        if (json) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("name", hubName.toString());
            o.put("path", path.toString());
            Json.print(main.out, o);
        } else {
            main.out.println(path);
        }
        return 0;
    }
}
