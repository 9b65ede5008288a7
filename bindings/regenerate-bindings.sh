#!/usr/bin/env bash
# Regenerates the jextract bindings of the C ABI (native/include/bloom.h) into
#   bindings/src/main/java/dev/bloom4j/bindings/internal/   (package dev.bloom4j.bindings.internal, class bloom_h)
#
# Run it after every change to bloom.h and commit the result; BindingsDriftTest fails while the committed
# bindings and the header disagree. The generated files are never edited by hand.
#
# Needs jextract (built for JDK 22+; we use openjdk/jextract master). It is not part of this repository:
# build it from https://github.com/openjdk/jextract and point $JEXTRACT at its bin/jextract, or put it on PATH.
#
#   JEXTRACT=/path/to/jextract/bin/jextract bindings/regenerate-bindings.sh
#
# No --library option is passed on purpose: dev.bloom4j.bindings.NativeLibrary System.load()s the right
# libbloom.so for this CPU, and the generated code then resolves symbols through SymbolLookup.loaderLookup().
# Only bloom.h's own declarations are generated: the list comes from jextract's --dump-includes, filtered to
# entries that come from bloom.h itself, so nothing from stdint.h/stddef.h/stdbool.h/glibc leaks in.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
header="$repo_root/native/include/bloom.h"
output="$script_dir/src/main/java"
package=dev.bloom4j.bindings.internal
package_dir="$output/${package//.//}"

jextract=${JEXTRACT:-}
if [[ -z "$jextract" ]]; then
    jextract=$(command -v jextract || true)
fi
if [[ -z "$jextract" || ! -x "$jextract" ]]; then
    if [[ -n "${JEXTRACT:-}" ]]; then
        why="\$JEXTRACT=$JEXTRACT is not an executable"
    else
        why="\$JEXTRACT is unset and there is no jextract on PATH"
    fi
    cat >&2 <<MSG
error: jextract not found: $why.
Build it from https://github.com/openjdk/jextract (master, needs a JDK 22+ and libclang), then run
    JEXTRACT=/path/to/jextract/bin/jextract $0
MSG
    exit 1
fi
if [[ ! -f "$header" ]]; then
    echo "error: header not found: $header" >&2
    exit 1
fi

echo "using $("$jextract" --version 2>&1 | tr '\n' ' ')"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# jextract has no pass-through for clang options; it reads them, one a line, from ./compile_flags.txt.
# -nobuiltininc: jextract already puts its own copy of clang's builtin headers (<java.home>/conf/jextract) on the
# search path with -I. If libclang also finds an installed resource dir (e.g. Debian clang-14 installed system-wide:
# /usr/include/clang/14.0.6/include), #include_next <stdint.h> from jextract's copy lands on that second copy
# (same include guard, so it defines nothing) instead of glibc's, and "uint32_t" is unknown.
# Extra clang options can be added through $JEXTRACT_CLANG_ARGS (whitespace-separated).
jextract=$(command -v "$jextract")
jextract=$(readlink -f "$jextract")
printf '%s\n' -nobuiltininc ${JEXTRACT_CLANG_ARGS:-} >"$tmp/compile_flags.txt"
cd "$tmp"

# 1. Ask jextract which declarations the header pulls in. Each line is "--include-<kind> <name>  # header: <file>".
"$jextract" --dump-includes "$tmp/all-includes.txt" "$header" 2>"$tmp/dump.log" || {
    cat "$tmp/dump.log" >&2
    echo "error: jextract --dump-includes failed on $header" >&2
    exit 1
}

# 2. Keep the entries declared in bloom.h itself. jextract reports the header by its canonical path.
canonical_header=$(readlink -f "$header")
awk -v hdr="$canonical_header" '
    /^--include-/ {
        split($0, parts, "# header: ")
        file = parts[2]; sub(/[ \t]+$/, "", file)
        if (file == hdr) print $1, $2
    }' "$tmp/all-includes.txt" | sort -u >"$tmp/bloom-includes.txt"

if ! grep -q '^--include-function bloom_' "$tmp/bloom-includes.txt"; then
    echo "error: no bloom_* function found in $header by jextract; its output was:" >&2
    cat "$tmp/all-includes.txt" "$tmp/dump.log" >&2
    exit 1
fi
# Anything not prefixed bloom_/BLOOM_ in bloom.h breaks the header's naming rule; say so rather than bind it.
if grep -v -E '^--include-[a-z]+ (bloom_|BLOOM_)' "$tmp/bloom-includes.txt" >"$tmp/unprefixed.txt"; then
    echo "error: bloom.h declares names without the bloom_/BLOOM_ prefix:" >&2
    cat "$tmp/unprefixed.txt" >&2
    exit 1
fi

include_args=()
while read -r option name; do
    include_args+=("$option" "$name")
done <"$tmp/bloom-includes.txt"

# 3. Generate into a scratch directory, then replace the whole package, so that declarations removed from the
#    header disappear from the bindings and a failed run leaves the committed bindings untouched.
"$jextract" \
    --target-package "$package" \
    --header-class-name bloom_h \
    --output "$tmp/out" \
    "${include_args[@]}" \
    "$header" 2>"$tmp/jextract.log" || {
    cat "$tmp/jextract.log" >&2
    echo "error: jextract failed on $header" >&2
    exit 1
}

rm -rf "$package_dir"
mkdir -p "$(dirname "$package_dir")"
mv "$tmp/out/${package//.//}" "$package_dir"

# Opaque handles (typedef struct bloom_model bloom_model;) make jextract warn "Skipping bloom_model"; they are
# used only through pointers, which jextract binds as MemorySegment, so those warnings are expected. Show any other.
grep -v -E "warning: Skipping bloom_(model|context|sampler|detokenizer|generator) \(type Declared" "$tmp/jextract.log" >&2 || true

count=$(find "$package_dir" -name '*.java' | wc -l)
echo "generated $count files in $package_dir"
echo "from $(grep -c '^--include-function' "$tmp/bloom-includes.txt") functions," \
     "$(grep -c '^--include-struct' "$tmp/bloom-includes.txt") structs," \
     "$(grep -c '^--include-typedef' "$tmp/bloom-includes.txt") typedefs," \
     "$(grep -c '^--include-constant' "$tmp/bloom-includes.txt") constants"
