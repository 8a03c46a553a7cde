//! `memcpy`, `memmove` and `memset` for x86_64, replacing musl's in the static builds.
//!
//! musl's x86_64 `memcpy` is `rep movsq` between two byte-at-a-time `movsb` loops, its
//! `memmove` copies backwards one byte at a time (`std; rep movsb`), and its `memset` starts a
//! `rep stosq` above 126 bytes. A string instruction costs tens of cycles to start, so every
//! small copy pays that: zune-jpeg zeroes a 64- or 128-byte block and refills its bit reader
//! with a few bytes for each 8x8 block, and tract copies rows, so `memcpy` and `memset` were
//! 7.4% of a one-thread pipeline run (`perf record` on `vision/t1_pipeline`) and 15% of a JPEG
//! decode. Here sizes up to 32 bytes take two overlapping loads and stores, sizes up to 2 KB a
//! loop of 64-byte and then 16-byte steps, and larger ones `rep movsb`/`rep stosb`, which
//! modern cores run at full bandwidth. Only SSE2, part of every x86_64 CPU, is used.
//!
//! The routines are always assembled as `facelite_memcpy`, `facelite_memmove` and
//! `facelite_memset`, so the tests check them on any x86_64 build; in the musl builds they are
//! also the `memcpy`, `memmove` and `memset` symbols, which the linker then takes instead of
//! musl's archive members (musl's `memmove` would pull in its `memcpy` through `__memcpy_fwd`,
//! so all three are replaced together). Written in assembly, so that the compiler cannot turn
//! a copy loop back into a call to `memcpy`. Each carries call-frame information (none of them
//! touches the stack), so `perf --call-graph dwarf` and debuggers can name their callers.

#[cfg(target_arch = "x86_64")]
macro_rules! routines {
    ($($alias:literal),*) => {
        std::arch::global_asm!(
            // void *memcpy(void *dst /* rdi */, const void *src /* rsi */, size_t n /* rdx */)
            ".p2align 5",
            ".globl facelite_memcpy",
            ".type facelite_memcpy, @function",
            "facelite_memcpy:",
            ".cfi_startproc",
            "    mov rax, rdi",
            "    cmp rdx, 16",
            "    jbe .Lfl_copy_small",
            "    cmp rdx, 32",
            "    ja .Lfl_copy_large",
            "    movups xmm0, [rsi]",
            "    movups xmm1, [rsi + rdx - 16]",
            "    movups [rdi], xmm0",
            "    movups [rdi + rdx - 16], xmm1",
            "    ret",
            ".Lfl_copy_large:",
            "    cmp rdx, 2048",
            "    jae .Lfl_copy_rep",
            // The last 16 bytes are loaded before any store, so a forward copy onto an
            // overlapping destination below the source (memmove's forward case) stays exact.
            "    movups xmm1, [rsi + rdx - 16]",
            "    lea rcx, [rdi + rdx - 16]",
            "    cmp rdx, 64",
            "    jbe .Lfl_copy_loop",
            // 64 bytes a step (all four loads before the stores, for the same reason), then
            // 16 while more than 16 are left, then the last 16.
            ".Lfl_copy_loop64:",
            "    movups xmm0, [rsi]",
            "    movups xmm2, [rsi + 16]",
            "    movups xmm3, [rsi + 32]",
            "    movups xmm4, [rsi + 48]",
            "    movups [rdi], xmm0",
            "    movups [rdi + 16], xmm2",
            "    movups [rdi + 32], xmm3",
            "    movups [rdi + 48], xmm4",
            "    add rsi, 64",
            "    add rdi, 64",
            "    sub rdx, 64",
            "    cmp rdx, 64",
            "    ja .Lfl_copy_loop64",
            "    cmp rdx, 16",
            "    jbe .Lfl_copy_tail",
            ".Lfl_copy_loop:",
            "    movups xmm0, [rsi]",
            "    movups [rdi], xmm0",
            "    add rsi, 16",
            "    add rdi, 16",
            "    sub rdx, 16",
            "    cmp rdx, 16",
            "    ja .Lfl_copy_loop",
            ".Lfl_copy_tail:",
            "    movups [rcx], xmm1",
            "    ret",
            ".Lfl_copy_rep:",
            "    mov rcx, rdx",
            "    rep movsb",
            "    ret",
            // 0 to 16 bytes: two overlapping loads, then two stores.
            ".Lfl_copy_small:",
            "    cmp edx, 8",
            "    jb .Lfl_copy_under8",
            "    mov rcx, [rsi]",
            "    mov r8, [rsi + rdx - 8]",
            "    mov [rdi], rcx",
            "    mov [rdi + rdx - 8], r8",
            "    ret",
            ".Lfl_copy_under8:",
            "    cmp edx, 4",
            "    jb .Lfl_copy_under4",
            "    mov ecx, [rsi]",
            "    mov r8d, [rsi + rdx - 4]",
            "    mov [rdi], ecx",
            "    mov [rdi + rdx - 4], r8d",
            "    ret",
            ".Lfl_copy_under4:",
            "    test edx, edx",
            "    je .Lfl_copy_done",
            // 1 to 3 bytes: the first, the middle and the last.
            "    mov r9, rdx",
            "    shr r9, 1",
            "    movzx ecx, byte ptr [rsi]",
            "    movzx r8d, byte ptr [rsi + r9]",
            "    movzx r10d, byte ptr [rsi + rdx - 1]",
            "    mov [rdi], cl",
            "    mov [rdi + r9], r8b",
            "    mov [rdi + rdx - 1], r10b",
            ".Lfl_copy_done:",
            "    ret",
            ".cfi_endproc",
            ".size facelite_memcpy, . - facelite_memcpy",
            "",
            // void *memmove(void *dst, const void *src, size_t n): forward unless the
            // destination starts inside the source.
            ".p2align 5",
            ".globl facelite_memmove",
            ".type facelite_memmove, @function",
            "facelite_memmove:",
            ".cfi_startproc",
            "    mov rcx, rdi",
            "    sub rcx, rsi",
            "    cmp rcx, rdx",
            "    jae facelite_memcpy",
            // Up to 32 bytes memcpy loads everything before it stores.
            "    cmp rdx, 32",
            "    jbe facelite_memcpy",
            // Backwards in 16-byte steps from the end; the first 16 bytes are loaded first and
            // stored last.
            "    mov rax, rdi",
            "    movups xmm1, [rsi]",
            "    cmp rdx, 64",
            "    jbe .Lfl_move_back",
            ".Lfl_move_back64:",
            "    movups xmm0, [rsi + rdx - 16]",
            "    movups xmm2, [rsi + rdx - 32]",
            "    movups xmm3, [rsi + rdx - 48]",
            "    movups xmm4, [rsi + rdx - 64]",
            "    movups [rdi + rdx - 16], xmm0",
            "    movups [rdi + rdx - 32], xmm2",
            "    movups [rdi + rdx - 48], xmm3",
            "    movups [rdi + rdx - 64], xmm4",
            "    sub rdx, 64",
            "    cmp rdx, 64",
            "    ja .Lfl_move_back64",
            "    cmp rdx, 16",
            "    jbe .Lfl_move_head",
            ".Lfl_move_back:",
            "    movups xmm0, [rsi + rdx - 16]",
            "    movups [rdi + rdx - 16], xmm0",
            "    sub rdx, 16",
            "    cmp rdx, 16",
            "    ja .Lfl_move_back",
            ".Lfl_move_head:",
            "    movups [rdi], xmm1",
            "    ret",
            ".cfi_endproc",
            ".size facelite_memmove, . - facelite_memmove",
            "",
            // void *memset(void *dst /* rdi */, int c /* esi */, size_t n /* rdx */)
            ".p2align 5",
            ".globl facelite_memset",
            ".type facelite_memset, @function",
            "facelite_memset:",
            ".cfi_startproc",
            "    mov rax, rdi",
            "    movzx ecx, sil",
            "    movabs r8, 0x0101010101010101",
            "    imul rcx, r8",
            "    cmp rdx, 16",
            "    jbe .Lfl_set_small",
            "    movq xmm0, rcx",
            "    punpcklqdq xmm0, xmm0",
            "    cmp rdx, 32",
            "    ja .Lfl_set_large",
            "    movups [rdi], xmm0",
            "    movups [rdi + rdx - 16], xmm0",
            "    ret",
            ".Lfl_set_large:",
            "    cmp rdx, 2048",
            "    jae .Lfl_set_rep",
            "    movups [rdi + rdx - 16], xmm0",
            "    cmp rdx, 64",
            "    jbe .Lfl_set_loop",
            ".Lfl_set_loop64:",
            "    movups [rdi], xmm0",
            "    movups [rdi + 16], xmm0",
            "    movups [rdi + 32], xmm0",
            "    movups [rdi + 48], xmm0",
            "    add rdi, 64",
            "    sub rdx, 64",
            "    cmp rdx, 64",
            "    ja .Lfl_set_loop64",
            "    cmp rdx, 16",
            "    jbe .Lfl_set_done",
            ".Lfl_set_loop:",
            "    movups [rdi], xmm0",
            "    add rdi, 16",
            "    sub rdx, 16",
            "    cmp rdx, 16",
            "    ja .Lfl_set_loop",
            "    ret",
            ".Lfl_set_rep:",
            "    mov r9, rdi",
            "    mov eax, esi",
            "    mov rcx, rdx",
            "    rep stosb",
            "    mov rax, r9",
            "    ret",
            ".Lfl_set_small:",
            "    cmp edx, 8",
            "    jb .Lfl_set_under8",
            "    mov [rdi], rcx",
            "    mov [rdi + rdx - 8], rcx",
            "    ret",
            ".Lfl_set_under8:",
            "    cmp edx, 4",
            "    jb .Lfl_set_under4",
            "    mov [rdi], ecx",
            "    mov [rdi + rdx - 4], ecx",
            "    ret",
            ".Lfl_set_under4:",
            "    cmp edx, 2",
            "    jb .Lfl_set_under2",
            "    mov [rdi], cx",
            "    mov [rdi + rdx - 2], cx",
            "    ret",
            ".Lfl_set_under2:",
            "    test edx, edx",
            "    je .Lfl_set_done",
            "    mov [rdi], cl",
            ".Lfl_set_done:",
            "    ret",
            ".cfi_endproc",
            ".size facelite_memset, . - facelite_memset",
            $($alias,)*
        );
    };
}

#[cfg(all(target_arch = "x86_64", target_env = "musl"))]
routines!(
    ".globl memcpy",
    ".set memcpy, facelite_memcpy",
    ".globl memmove",
    ".set memmove, facelite_memmove",
    ".globl memset",
    ".set memset, facelite_memset"
);

#[cfg(all(target_arch = "x86_64", not(target_env = "musl")))]
routines!();

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::ffi::c_void;
    use std::hint::black_box;

    extern "C" {
        fn facelite_memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn facelite_memmove(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn facelite_memset(dst: *mut c_void, c: i32, n: usize) -> *mut c_void;
    }

    /// Sizes around every branch: each small case, the 16/32/64 edges, both loops, and `rep`.
    fn sizes() -> Vec<usize> {
        let mut v: Vec<usize> = (0..=80).collect();
        v.extend([
            95, 96, 97, 127, 128, 129, 255, 256, 257, 1000, 2047, 2048, 2049, 4096, 70_001,
        ]);
        v
    }

    // The expected buffers are built byte by byte (through `black_box`, so that they do not
    // become calls to the routines under test in the musl builds).

    /// A buffer whose every byte differs from its neighbours', so a misplaced byte shows.
    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn copies_are_exact_and_touch_nothing_else() {
        for n in sizes() {
            for (d_off, s_off) in [(0, 0), (1, 3), (7, 0), (5, 9), (15, 1)] {
                let src = pattern(n + 32, 7);
                let mut dst = vec![0xAAu8; n + 64];
                let mut expected = dst.clone();
                for i in 0..n {
                    expected[d_off + i] = black_box(src[s_off + i]);
                }
                // SAFETY: both ranges lie inside their buffers and do not overlap.
                let ret = unsafe {
                    facelite_memcpy(
                        dst.as_mut_ptr().add(d_off).cast(),
                        src.as_ptr().add(s_off).cast(),
                        n,
                    )
                };
                assert_eq!(ret, dst.as_mut_ptr().wrapping_add(d_off).cast(), "n={n}");
                assert_eq!(dst, expected, "memcpy n={n} dst+{d_off} src+{s_off}");
            }
        }
    }

    #[test]
    fn overlapping_moves_are_exact_in_both_directions() {
        for n in sizes() {
            for shift in [1usize, 2, 3, 8, 15, 16, 17, 33, 100, 3000] {
                for forward in [true, false] {
                    let mut buf = pattern(n + shift + 16, 3);
                    let (d, s) = if forward { (0, shift) } else { (shift, 0) };
                    let original = buf.clone();
                    let mut expected = buf.clone();
                    for i in 0..n {
                        expected[d + i] = black_box(original[s + i]);
                    }
                    // SAFETY: both ranges lie inside `buf`; memmove allows the overlap.
                    let ret = unsafe {
                        let p = buf.as_mut_ptr();
                        facelite_memmove(p.add(d).cast(), p.add(s).cast(), n)
                    };
                    assert_eq!(ret, buf.as_mut_ptr().wrapping_add(d).cast());
                    assert_eq!(
                        buf, expected,
                        "memmove n={n} shift={shift} forward={forward}"
                    );
                }
            }
        }
    }

    #[test]
    fn sets_are_exact_and_touch_nothing_else() {
        for n in sizes() {
            for off in [0usize, 1, 6, 13] {
                for byte in [0i32, 0x5A, 0x1FF] {
                    let mut buf = pattern(n + 32, 11);
                    let mut expected = buf.clone();
                    for e in &mut expected[off..off + n] {
                        *e = black_box(byte as u8);
                    }
                    // SAFETY: the range lies inside `buf`.
                    let ret = unsafe { facelite_memset(buf.as_mut_ptr().add(off).cast(), byte, n) };
                    assert_eq!(ret, buf.as_mut_ptr().wrapping_add(off).cast());
                    assert_eq!(buf, expected, "memset n={n} off={off} byte={byte:#x}");
                }
            }
        }
    }
}
