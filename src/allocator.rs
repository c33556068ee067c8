//! The process's allocator: mimalloc, with freed memory kept committed longer
//! than mimalloc's default before it goes back to the kernel, and without
//! transparent huge pages.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// mimalloc reuses freed memory instead of returning big buffers to the kernel
/// and faulting them in again (10% of a bulk import's time with glibc malloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`, by its place in mimalloc v3's `mi_option_e`
/// (libmimalloc-sys 0.1 has no constant for it).
const PURGE_DELAY: mi_option_t = 15;

/// mimalloc v3's default purge delay: 1 s.
const DEFAULT_PURGE_DELAY_MS: c_long = 1_000;

/// How long freed memory stays committed before it is returned to the kernel.
const PURGE_DELAY_MS: c_long = 30_000;

/// Ingest frees a flush's buffers and allocates the next flush's a second or
/// two later. With mimalloc's 1 s delay they go back to the kernel in between,
/// and come back as fresh pages the kernel must zero: 8% of a bulk import's
/// CPU time was `clear_page`. Memory an idle server no longer needs is still
/// returned, 30 s later.
///
/// Applied only over the default, so a `MIMALLOC_PURGE_DELAY` set in the
/// environment wins, and nothing is set should [`PURGE_DELAY`] ever name a
/// different option. Returns whether it was applied.
pub fn keep_freed_memory_longer() -> bool {
    set_over_default(PURGE_DELAY, DEFAULT_PURGE_DELAY_MS, PURGE_DELAY_MS)
}

/// Sets mimalloc's `option` to `value` only while it holds `default`: the
/// check guards against an index that names another option in some mimalloc
/// version. Returns whether `option` now holds `value`.
fn set_over_default(option: mi_option_t, default: c_long, value: c_long) -> bool {
    // SAFETY: reading and setting a mimalloc option is thread-safe and takes
    // effect for later allocations and purges.
    unsafe {
        if mi_option_get(option) != default {
            return false;
        }
        mi_option_set(option, value);
        mi_option_get(option) == value
    }
}

/// `mi_option_allow_thp`, by its place in mimalloc v3's `mi_option_e`.
const ALLOW_THP: mi_option_t = 43;

/// Turns transparent huge pages off for the process, as
/// `MIMALLOC_ALLOW_THP=0` in the environment does (mimalloc reads that only
/// at its start, before `main`, so the option alone comes too late here).
///
/// mimalloc asks the kernel for huge pages for its arenas, and the kernel then
/// zeroes 2 MiB at every first touch of one. Ingest keeps touching fresh
/// memory (a flush's buffers, a Kafka chunk's payloads): with huge pages,
/// 16% of the Kafka ingester's CPU time was `clear_page_erms` under
/// `do_huge_pmd_anonymous_page` (perf), and a 10M-event `toolpulse import`
/// spent 13.1 s in the kernel against 3.5 s without (350k against 424k
/// events/s, `benches/ingest.rs`' input).
///
/// Left alone when `MIMALLOC_ALLOW_THP` is set, or when [`ALLOW_THP`] does not
/// hold mimalloc's default of 1 (it would then name another option). Returns
/// whether the kernel now keeps huge pages from the process.
pub fn without_transparent_huge_pages() -> bool {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return false;
    }
    // No more `madvise(MADV_HUGEPAGE)` on new arenas...
    if !set_over_default(ALLOW_THP, 1, 0) {
        return false;
    }
    // ...and none for the ones mapped already: the kernel checks this flag at
    // each fault.
    // SAFETY: PR_SET_THP_DISABLE takes no pointers and affects only how this
    // process's memory is faulted in.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 }
}

#[cfg(test)]
mod tests {
    /// The option index names the purge delay: it holds the documented default
    /// and takes the new value (run without `MIMALLOC_PURGE_DELAY` set).
    #[test]
    fn the_purge_delay_is_raised() {
        assert!(std::env::var_os("MIMALLOC_PURGE_DELAY").is_none(), "run without MIMALLOC_PURGE_DELAY");
        assert!(super::keep_freed_memory_longer());
    }

    /// Afterwards the kernel reports huge pages disabled for the process
    /// (run without `MIMALLOC_ALLOW_THP` set).
    #[test]
    fn transparent_huge_pages_are_turned_off() {
        assert!(std::env::var_os("MIMALLOC_ALLOW_THP").is_none(), "run without MIMALLOC_ALLOW_THP");
        assert!(super::without_transparent_huge_pages());
        // SAFETY: PR_GET_THP_DISABLE only reads the process's flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1);
    }
}
