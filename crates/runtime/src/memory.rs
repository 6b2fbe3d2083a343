//! How much memory a service's allocator, and SQLite, keep.
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
//!
//! SQLite sets memory aside for every connection as it opens, whether the
//! connection will need it or not ([`limit_sqlite_preallocation`]).

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

/// How many small allocations each SQLite connection keeps ready in its
/// own pool (the "lookaside"), and how big each may be. SQLite's default
/// is 40 of 1,200 bytes, 48 KB per connection, set aside as it opens.
pub const SQLITE_LOOKASIDE: (i32, i32) = (1200, 8);

/// Stops SQLite from setting aside memory before it needs it; call it
/// before the first connection opens (`service_runtime` does).
///
/// As it opens, each connection would otherwise take a block for twenty
/// pages of cache (about 87 KB) before it has read a single page, and a
/// 48 KB pool for small allocations; the bus opens six connections. After
/// this, a connection's cache grows page by page as it reads, up to the
/// same limit (`cache_size`), so a busy connection ends where it did and an
/// idle one stays small; the pool is [`SQLITE_LOOKASIDE`], and what does
/// not fit in it comes from `malloc`.
pub fn limit_sqlite_preallocation() {
    let (slot_size, slots) = SQLITE_LOOKASIDE;
    // SAFETY: `sqlite3_config` only sets fields of SQLite's global
    // configuration, with the argument types each option documents
    // (a pointer and two ints; two ints). Before SQLite's first connection
    // it accepts them; afterwards it refuses them (SQLITE_MISUSE) and
    // changes nothing.
    let answers = unsafe {
        [
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_PAGECACHE,
                std::ptr::null_mut::<std::ffi::c_void>(),
                0 as std::ffi::c_int,
                0 as std::ffi::c_int,
            ),
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_LOOKASIDE,
                slot_size as std::ffi::c_int,
                slots as std::ffi::c_int,
            ),
        ]
    };
    if answers
        .iter()
        .any(|&answer| answer != rusqlite::ffi::SQLITE_OK)
    {
        tracing::debug!(
            ?answers,
            "SQLite had already opened a connection; its memory settings stay as they were"
        );
    }
}
