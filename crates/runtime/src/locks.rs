//! Locks that a panic does not poison.
//!
//! When a thread panics while it holds a `std` lock, the lock is "poisoned":
//! every later `lock()` returns an error, and code that `expect`s it panics
//! too. In a service that turns one panicking request (in an exercise, every
//! `todo!()` not yet written) into a 500 for every request after it, until
//! a restart.
//!
//! Poisoning protects data a panic may have left half-changed. The blog's
//! shared state cannot be left that way: a SQLite transaction that a panic
//! interrupts is rolled back when it is dropped, and the read model's
//! updates are small and panic before they change anything (a `todo!()`).
//! So these functions take the data anyway, and clear the poison, so that
//! code elsewhere that still uses the plain `lock().expect(...)` (the
//! outbox relay) does not panic either.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, even if a panic poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| {
        mutex.clear_poison();
        poisoned.into_inner()
    })
}

/// Takes a read lock on `lock`, even if a panic poisoned it.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| {
        lock.clear_poison();
        poisoned.into_inner()
    })
}

/// Takes the write lock on `lock`, even if a panic poisoned it.
pub fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| {
        lock.clear_poison();
        poisoned.into_inner()
    })
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    #[test]
    fn a_panic_while_locked_does_not_stop_the_next_user() {
        let mutex = Mutex::new(1);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _guard = lock(&mutex);
            panic!("TODO 1: not written yet");
        }));
        assert!(mutex.is_poisoned());
        *lock(&mutex) += 1;
        assert!(
            !mutex.is_poisoned(),
            "the poison is cleared for plain lock() users too"
        );
        assert_eq!(*mutex.lock().unwrap(), 2);

        let rw = RwLock::new(1);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _guard = write(&rw);
            panic!("TODO 2: not written yet");
        }));
        *write(&rw) += 1;
        assert_eq!(*read(&rw), 2);
        assert!(!rw.is_poisoned());
    }
}
