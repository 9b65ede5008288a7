#!/usr/bin/env bash
# Checks the linux-aarch64 libraries a build put into the bindings jar's classes (bindings/target/classes, or the
# directory given): one per variant of cmake/cpu-variants.cmake, each an AArch64 ELF that needs nothing beyond the
# C library (libc, libm, libpthread, libdl, ld-linux-aarch64: glibc's, on every aarch64 Linux distribution) and
# exports only bloom_* symbols, like the x86-64 ones (ggml, libstdc++ and libgcc are linked in statically).
# And, by disassembly, that no variant holds an instruction of an extension it does not claim (the loader checks
# only what the variant's name claims): dot products (asimddp), 8-bit matrix multiplies (i8mm), SVE, half-precision
# arithmetic (fphp/asimdhp; the armv8.0 conversions fcvtl/fcvtn are allowed). The qemu runs show the same for the
# code the tests reach; this covers the rest of the library.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

dir=${1:-bindings/target/classes/native/linux-aarch64}
readelf=$(command -v aarch64-linux-gnu-readelf || command -v readelf)
command -v aarch64-linux-gnu-objdump >/dev/null || { echo "ci: no aarch64-linux-gnu-objdump (binutils-aarch64-linux-gnu)" >&2; exit 1; }
failures=()
declare -A pattern=(
    [dotprod]='^(sdot|udot)[[:space:]]'
    [i8mm]='^(smmla|ummla|usmmla|usdot|sudot)[[:space:]]'
    [sve]='[[:space:],{](z[0-9]+\.[bhsdq]|p[0-9]+/[zm])'
    [fp16]='^f(add|sub|mul|mla|mls|div|max|min|maxnm|minnm|abs|neg|sqrt|cmeq|cmge|cmgt|cvtzs|cvtzu|rint[a-z]?)[[:space:]]+(v[0-9]+\.[48]h|h[0-9]+,)'
)
for v in $(cmake -DBLOOM_VARIANTS_OF=aarch64 -P cmake/cpu-variants.cmake); do
    lib=$dir/$v/libbloom.so
    if [[ ! -f $lib ]]; then
        failures+=("$v: no $lib")
        continue
    fi
    machine=$("$readelf" -h "$lib" | sed -n 's/^ *Machine: *//p')
    [[ $machine == AArch64 ]] || failures+=("$v: machine '$machine', not AArch64")
    needed=$("$readelf" -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
    for n in $needed; do
        [[ $n =~ ^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-aarch64\.so\.1)$ ]] ||
            failures+=("$v: needs $n, which an aarch64 Linux may not have")
    done
    exported=$("$readelf" --dyn-syms -W "$lib" | awk '$5 == "GLOBAL" && $7 != "UND" {print $8}' | grep -v '^bloom_' || true)
    [[ -z $exported ]] || failures+=("$v: exports more than bloom_*: $(head -c 200 <<<"$exported" | tr '\n' ' ')")
    asm=$(aarch64-linux-gnu-objdump -d --no-show-raw-insn "$lib" | cut -f2-)
    counts=""
    for ext in dotprod i8mm sve fp16; do
        n=$(grep -cE "${pattern[$ext]}" <<<"$asm" || true)
        counts+=" $ext $n"
        if [[ $n -gt 0 && $v != *"$ext"* ]]; then
            failures+=("$v: $n $ext instructions, which the variant does not claim: $(grep -m 3 -E "${pattern[$ext]}" <<<"$asm" | tr '\t\n' ' ;')")
        fi
    done
    printf 'ci: %-32s %s, %5d KiB, needs %s;%s\n' "$v" "$machine" $(( $(stat -c %s "$lib") / 1024 )) "$needed" \
        "$counts" >&2
done
if [[ ${#failures[@]} -gt 0 ]]; then
    printf 'ci: linux-aarch64 library check failed:\n' >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
