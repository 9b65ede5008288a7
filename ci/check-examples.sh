#!/usr/bin/env bash
# bloom4j from other JVM languages: builds and runs examples/kotlin, examples/scala and examples/clojure on the demo
# checkpoint, against the file:// staging repository ci/check-consumer.sh deployed to (run it first), with that
# script's local repository and its PATH without CMake, g++ and npm. Each example exits non-zero when it generated
# nothing. The first run downloads the Kotlin, Scala and Clojure toolchains into that local repository.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
repo=$PWD
work=${BLOOM_CONSUMER_DIR:-$repo/build/consumer}
log() { echo "check-examples: $*" >&2; }

[[ -d $work/staging/dev/bloom4j && -d $work/bin ]] ||
    { log "no staging repository in $work: run ci/check-consumer.sh first"; exit 1; }
export PATH="$JAVA_HOME/bin:$work/bin"
java=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED)
mvn=("$repo/mvnw" -B -q -Dmaven.repo.local="$work/m2" -Dbloom4j.staging="file://$work/staging")

# Copies an example out of the source tree, builds it and writes its runtime classpath to target/cp.txt.
build() {
    local name=$1; shift
    log "building examples/$name"
    rm -rf "$work/examples/$name"
    mkdir -p "$work/examples"
    cp -r "examples/$name" "$work/examples/$name"
    (cd "$work/examples/$name" && "${mvn[@]}" "$@" dependency:build-classpath -Dmdep.outputFile=target/cp.txt)
}

# Runs an example's program (the arguments after its name) in its copy.
run() {
    local name=$1; shift
    log "running examples/$name"
    (cd "$work/examples/$name" && "${java[@]}" "$@" "$work/demo")
}

start=$SECONDS
build kotlin package
run kotlin -cp "target/classes:$(cat "$work/examples/kotlin/target/cp.txt")" example.Generate
build scala package
run scala -cp "target/classes:$(cat "$work/examples/scala/target/cp.txt")" example.Generate
build clojure
run clojure -cp "$(cat "$work/examples/clojure/target/cp.txt")" clojure.main generate.clj
log "ok ($((SECONDS - start)) s)"
