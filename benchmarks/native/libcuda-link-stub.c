// A link-time stand-in for the NVIDIA driver library (libcuda.so.1), for building llama.cpp's llama-bench for CUDA
// on a machine that has the CUDA toolkit but no driver (gpu-run.sh build-llama on a CPU build host, whose output
// gpu-bundle.sh carries to the GPU machine). ggml's CUDA backend calls these driver functions for its virtual-memory
// pool; llama.cpp's users build with that pool on, so the comparison build keeps it, and the linker needs a
// libcuda.so.1 to resolve them against. This file only satisfies the linker: the program records the soname
// libcuda.so.1 and, on the GPU machine, the dynamic loader binds these names to the real driver. Were this stub ever
// loaded, every call would fail with CUDA_ERROR_STUB_LIBRARY, as the toolkit's own stubs do.
//
//   nvcc --cudart none -shared -Xcompiler -fPIC -Xlinker -soname=libcuda.so.1 -o libcuda.so libcuda-link-stub.c
//
// The set is what ggml-cuda at the pinned llama.cpp commit calls (grep 'cu[A-Z]' ggml/src/ggml-cuda); a newer ggml
// that calls more shows as an undefined reference when llama-bench links, naming the function to add.

#include <cuda.h>

#define STUB return CUDA_ERROR_STUB_LIBRARY

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr) {
    (void) error;
    *pStr = "libcuda link stub: no NVIDIA driver";
    STUB;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal) { (void) device; (void) ordinal; STUB; }

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
    (void) pi; (void) attrib; (void) dev; STUB;
}

CUresult CUDAAPI cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                               CUmemAllocationGranularity_flags option) {
    (void) granularity; (void) prop; (void) option; STUB;
}

CUresult CUDAAPI cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                     unsigned long long flags) {
    (void) ptr; (void) size; (void) alignment; (void) addr; (void) flags; STUB;
}

CUresult CUDAAPI cuMemAddressFree(CUdeviceptr ptr, size_t size) { (void) ptr; (void) size; STUB; }

CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                             unsigned long long flags) {
    (void) handle; (void) size; (void) prop; (void) flags; STUB;
}

CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle handle) { (void) handle; STUB; }

CUresult CUDAAPI cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                          unsigned long long flags) {
    (void) ptr; (void) size; (void) offset; (void) handle; (void) flags; STUB;
}

CUresult CUDAAPI cuMemUnmap(CUdeviceptr ptr, size_t size) { (void) ptr; (void) size; STUB; }

CUresult CUDAAPI cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
    (void) ptr; (void) size; (void) desc; (void) count; STUB;
}
