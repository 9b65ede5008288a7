#!/usr/bin/env bash
# Every jar the build makes carries the project's licence (META-INF/LICENSE, Apache-2.0) and the notices of the
# code its natives contain (META-INF/NOTICE naming ggml's MIT licence): fails naming the jar that lacks one.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

command -v unzip >/dev/null || { echo "check-jar-notices: unzip is required" >&2; exit 1; }
shopt -s nullglob
jars=(*/target/bloom4j-*.jar cli/target/bloom.jar benchmarks/target/benchmarks.jar)
[[ ${#jars[@]} -ge 9 ]] || { echo "check-jar-notices: build the jars first (found ${#jars[@]})" >&2; exit 1; }
failed=0
for jar in "${jars[@]}"; do
    [[ $jar == *-sources.jar || $jar == *-javadoc.jar ]] && continue  # documentation, not what runs
    if ! unzip -p "$jar" META-INF/LICENSE 2>/dev/null | grep -q "Apache License"; then
        echo "check-jar-notices: $jar has no META-INF/LICENSE with the Apache License" >&2
        failed=1
    fi
    if ! unzip -p "$jar" META-INF/NOTICE 2>/dev/null | grep -q "The ggml authors"; then
        echo "check-jar-notices: $jar has no META-INF/NOTICE naming ggml's authors" >&2
        failed=1
    fi
done
[[ $failed == 0 ]] && echo "check-jar-notices: the jars carry LICENSE and NOTICE" >&2
exit $failed
