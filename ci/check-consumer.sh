#!/usr/bin/env bash
# bloom4j as a dependency: deploys the build's artifacts, with -sources and -javadoc jars and the BOM, to a file://
# staging repository (./mvnw -Ppublish deploy), then builds
# and runs ci/consumer, a project that resolves bloom4j only from there (and third-party jars from Maven Central,
# into a local repository of its own), with CMake, g++, gcc and npm absent from its PATH: the jars must carry
# everything. Run after ./mvnw verify (it reuses the built natives: -Dbloom4j.skipNative).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
repo=$PWD
work=${BLOOM_CONSUMER_DIR:-$repo/build/consumer}
rm -rf "$work"
mkdir -p "$work/bin"
log() { echo "check-consumer: $*" >&2; }

log "deploying to file://$work/staging (with -sources and -javadoc jars: -Ppublish)"
./mvnw -B -q -Ppublish deploy -DskipTests -Dbloom4j.skipNative \
    -DaltDeploymentRepository="staging::file://$work/staging"
for kind in "" -sources -javadoc; do
    for artifact in bloom4j-api bloom4j-bindings bloom4j-checkpoint bloom4j-langchain4j; do
        ls "$work/staging/dev/bloom4j/$artifact/0.1.0-SNAPSHOT/$artifact"-0.1.0-*[0-9]"$kind.jar" >/dev/null 2>&1 ||
            { log "no $artifact$kind jar in the staging repository"; exit 1; }
    done
done
ls "$work"/staging/dev/bloom4j/bloom4j-bom/0.1.0-SNAPSHOT/bloom4j-bom-*.pom >/dev/null ||
    { log "no bloom4j-bom in the staging repository"; exit 1; }

# A PATH of everything in /usr/bin and /bin but the native toolchain and npm.
for d in /usr/local/bin /usr/bin /bin; do
    for f in "$d"/*; do
        name=${f##*/}
        case $name in
            cmake*|ctest*|cpack*|g++*|gcc*|c++*|cc|cpp*|x86_64-linux-gnu-g*|clang*|npm*|npx*|node*|ld|ld.*) continue ;;
        esac
        [[ -e $work/bin/$name ]] || ln -s "$f" "$work/bin/$name"
    done
done
for tool in cmake g++ gcc npm; do
    if PATH=$work/bin command -v "$tool" >/dev/null; then
        log "$tool is still on the consumer's PATH"
        exit 1
    fi
done

log "building ci/consumer against the staging repository (own local repository: $work/m2)"
cp -r ci/consumer "$work/project"
(cd "$work/project" && PATH="$JAVA_HOME/bin:$work/bin" "$repo/mvnw" -B -q -Dmaven.repo.local="$work/m2" \
    -Dbloom4j.staging="file://$work/staging" package dependency:build-classpath -Dmdep.outputFile=cp.txt)
origin=$(cat "$work"/m2/dev/bloom4j/bloom4j-api/0.1.0-SNAPSHOT/_remote.repositories 2>/dev/null | grep -c "bloom4j-staging" || true)
[[ $origin -ge 1 ]] || { log "bloom4j-api did not come from the staging repository"; exit 1; }
log "running it"
(cd "$work/project" && PATH="$JAVA_HOME/bin:$work/bin" "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED \
    -cp "target/classes:$(cat cp.txt)" example.Consumer "$work/demo")
log "ok"
