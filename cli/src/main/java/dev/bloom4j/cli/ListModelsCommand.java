package dev.bloom4j.cli;

import dev.bloom4j.CachedModel;
import dev.bloom4j.HubConfig;
import dev.bloom4j.HubModels;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code bloom list-models}: what the Hugging Face hub cache holds. */
@Command(
        name = "list-models",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "List the models in the Hugging Face hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else "
                    + "~/.cache/huggingface/hub): one line per cached revision with the name to pass to --model, "
                    + "the refs (branches, tags) pointing at it, its commit, size and format. Format is safetensors "
                    + "(a checkpoint bloom4j loads), gguf with the quantizations present, or other (a model of "
                    + "another kind, or one whose weights are not in the cache). Reads the cache only; no network.",
            ""},
        footer = {"", "Examples:", "  bloom list-models", "  HF_HUB_CACHE=/data/hf bloom list-models --json"})
final class ListModelsCommand implements Callable<Integer> {

    @ParentCommand
    Main main;

    @Option(names = "--json", description = "Print one JSON object {\"cache\", \"models\": [{\"name\", "
            + "\"repository\", \"refs\", \"commit\", \"size\", \"format\", \"quantizations\", \"path\"}, ...]}.")
    boolean json;

    @Override
    public Integer call() {
        HubModels hub = HubModels.of(HubConfig.fromEnvironment(main.env));
        List<CachedModel> models = hub.cached();
        if (json) {
            List<Map<String, Object>> list = new ArrayList<>();
            for (CachedModel m : models) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("name", m.name());
                o.put("repository", m.repository());
                o.put("refs", m.refs());
                o.put("commit", m.commit());
                o.put("size", m.sizeBytes());
                o.put("format", m.format());
                o.put("quantizations", m.quantizations());
                o.put("path", m.snapshot().toString());
                list.add(o);
            }
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("cache", hub.config().cacheDirectory().toString());
            o.put("models", list);
            Json.print(main.out, o);
            return 0;
        }
        if (models.isEmpty()) {
            main.err.println("no models in the hub cache " + hub.config().cacheDirectory()
                    + " (bloom download org/name fetches one)");
            return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "REVISION", "COMMIT", "SIZE", "FORMAT"});
        for (CachedModel m : models) {
            String format = m.quantizations().isEmpty() ? m.format()
                    : m.format() + " " + String.join(",", m.quantizations());
            rows.add(new String[] {m.name(), m.refs().isEmpty() ? "-" : String.join(",", m.refs()),
                m.commit().substring(0, Math.min(12, m.commit().length())), ProgressBar.bytes(m.sizeBytes()), format});
        }
        int[] widths = new int[5];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                String cell = i == 3 ? " ".repeat(widths[i] - row[i].length()) + row[i] // sizes right-aligned
                        : row[i] + (i == row.length - 1 ? "" : " ".repeat(widths[i] - row[i].length()));
                line.append(i == 0 ? "" : "  ").append(cell);
            }
            main.out.println(line);
        }
        main.err.println("cache: " + hub.config().cacheDirectory());
        return 0;
    }
}
