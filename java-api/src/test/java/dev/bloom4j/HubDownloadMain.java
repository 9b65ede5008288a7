package dev.bloom4j;

import java.net.URI;
import java.nio.file.Path;

/**
 * The second process of {@link HubTwoProcessesTest}: resolves one hub name and prints the path.
 * Arguments: cache directory, hub endpoint, name.
 */
public final class HubDownloadMain {
    private HubDownloadMain() {}

    public static void main(String[] args) {
        HubConfig config = new HubConfig(Path.of(args[0]), URI.create(args[1]), null, false);
        System.out.println(HubModels.of(config).resolve(args[2]));
    }
}
