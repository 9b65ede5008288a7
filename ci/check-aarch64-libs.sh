#!/usr/bin/env bash
# Checks the linux-aarch64 libraries a build put into the bindings jar's classes (bindings/target/classes, or the
# directory given): one per variant of cmake/cpu-variants.cmake, each an AArch64 ELF that needs nothing beyond the
# C library (libc, libm, libpthread, libdl, ld-linux-aarch64: glibc's, on every aarch64 Linux distribution) and
# exports only bloom_* symbols, like the x86-64 ones (ggml, libstdc++ and libgcc are linked in statically).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

dir=${1:-bindings/target/classes/native/linux-aarch64}
readelf=$(command -v aarch64-linux-gnu-readelf || command -v readelf)
failures=()
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
    printf 'ci: %-34s %s, %6d KiB, needs %s\n' "$v" "$machine" $(( $(stat -c %s "$lib") / 1024 )) "$needed" >&2
done
if [[ ${#failures[@]} -gt 0 ]]; then
    printf 'ci: linux-aarch64 library check failed:\n' >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
