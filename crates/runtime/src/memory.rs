//! How much memory a service's allocator keeps.
//!
//! glibc's `malloc` gives busy threads arenas of their own, up to eight per
//! core, so that they never wait for each other's lock. Each arena keeps
//! the memory it once held; freed, it is reused by that arena only. A blog
//! service runs two async worker threads and a few blocking ones (SQLite),
//! and after a burst of load each of their arenas holds a few hundred
//! kilobytes that no other thread will use. Two arenas are plenty for
//! threads that spend their time waiting on sockets and the disk: the
//! benchmark (`cargo workbook bench`) shows the memory after the load
//! lower and the CPU per comment the same.

/// The most malloc arenas a service's threads share.
pub const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's arenas at [`MALLOC_ARENAS`]; call it before any thread
/// starts (`service_runtime` does). `MALLOC_ARENA_MAX` in the environment still wins,
/// so whoever runs the service can choose otherwise. Elsewhere than glibc
/// (musl, macOS) there is nothing to cap and it does nothing.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets a number inside glibc's allocator; it
        // is called before the process starts any thread of its own.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        }
    }
}
