//! The process-wide allocator. The static musl builds would otherwise use musl's malloc, which
//! serves every large block (model tensors: 100 KB to several MB, ~100 per model run) with a
//! fresh `mmap` and returns it with `munmap` on free: a FaceMesh run cost ~200 system calls and
//! the page faults of zeroing new pages, leaving tract 4-6x slower than onnxruntime. mimalloc
//! keeps freed pages for reuse. Declared in the library so the binary, the tests and the
//! benches all measure the allocator that ships.

/// mimalloc, for every allocation of any program that links facelite.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: the same position in its v2 and v3 option enums.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

extern "C" {
    /// `void mi_option_set(mi_option_t option, long value)`, from the mimalloc the `mimalloc`
    /// crate compiles in.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    /// `long mi_option_get(mi_option_t option)`.
    #[cfg(test)]
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
}

/// Keeps the pages of freed blocks mapped for reuse instead of returning them to the system
/// 10 ms after the free, mimalloc's default. A pipeline run frees a model's tensors and asks
/// for the same sizes again within milliseconds, or at the next request: with the default,
/// 160 runs of decode, detect, embed and mesh took about 15,000 page faults (each a page cleared
/// by the kernel) and 7.5-8.5 s of CPU; without purging, 500-1,150 faults and 7.0-7.5 s. The
/// cost is that the process keeps its high-water mark of memory, which the input limits bound.
pub(crate) fn keep_freed_memory() {
    // SAFETY: a plain setter of a process-wide integer option, callable at any time.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    /// mimalloc's option setter and getter link, and the purge delay reads back as "never" (that
    /// index 15 is the purge delay shows in the page faults: about 1,000 instead of 15,000 over
    /// 160 pipeline runs).
    #[test]
    fn freed_memory_is_kept() {
        super::keep_freed_memory();
        // SAFETY: a plain getter of a process-wide integer option.
        let delay = unsafe { super::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, -1);
    }
}
