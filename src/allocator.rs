//! The process's allocator: mimalloc, with freed memory kept committed longer
//! than mimalloc's default before it goes back to the kernel.

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
    // SAFETY: reading and setting a mimalloc option is thread-safe and takes
    // effect for later purges; the option index is checked by its default.
    unsafe {
        if mi_option_get(PURGE_DELAY) != DEFAULT_PURGE_DELAY_MS {
            return false;
        }
        mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        mi_option_get(PURGE_DELAY) == PURGE_DELAY_MS
    }
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
}
