//! The process-wide allocator. The static musl builds would otherwise use musl's malloc, which
//! serves every large block (model tensors: 100 KB to several MB, ~100 per model run) with a
//! fresh `mmap` and returns it with `munmap` on free: a FaceMesh run cost ~200 system calls and
//! the page faults of zeroing new pages, leaving tract 4-6x slower than onnxruntime. mimalloc
//! keeps freed pages for reuse. Declared in the library so the binary, the tests and the
//! benches all measure the allocator that ships.

/// mimalloc, for every allocation of any program that links facelite.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
