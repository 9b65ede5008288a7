package dev.bloom4j.cli;

import dev.bloom4j.BloomRuntime;
import picocli.CommandLine.IVersionProvider;

/** {@code bloom --version}: the CLI's version and the native library's. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String cli = Main.class.getPackage().getImplementationVersion();
        String library;
        try {
            library = BloomRuntime.version();
        } catch (UnsatisfiedLinkError e) {
            library = "not loadable: " + e.getMessage();
        }
        return new String[] {"bloom4j " + (cli == null ? "(development build)" : cli), "native library " + library};
    }
}
