//! Retry with exponential backoff and jitter: the one way every part of the
//! blog waits before trying again (the outbox relay, the bus's deliveries,
//! query's replay, the launcher restarting a service).
//!
//! Why both halves:
//! - *exponential*: a service that is struggling to start gets fewer and
//!   fewer requests, not a steady hammering;
//! - *jitter*: when the bus comes back, the relays of every service do not
//!   all retry in the same millisecond (a "thundering herd").

use std::time::Duration;

/// The pauses between tries: each about twice the last, up to a ceiling,
/// each drawn at random from its upper half ("equal jitter").
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    longest: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// Starts at `first`, never waits longer than `longest`.
    pub fn new(first: Duration, longest: Duration) -> Self {
        Backoff {
            first,
            longest: longest.max(first),
            ceiling: first,
        }
    }

    /// How long to wait before the next try; the one after will be longer.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(self.longest);
        jittered(ceiling)
    }

    /// The current ceiling: the longest the next delay can be.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// After a success: the next failure waits only `first` again.
    pub fn reset(&mut self) {
        self.ceiling = self.first;
    }
}

/// A random duration in `[ceiling / 2, ceiling]`.
fn jittered(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    let spread = (ceiling - half).as_nanos() as u64;
    if spread == 0 {
        return ceiling;
    }
    let random = getrandom::u64().unwrap_or(spread / 2);
    half + Duration::from_nanos(random % (spread + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_with_jitter_in_the_upper_half() {
        let first = Duration::from_millis(100);
        let longest = Duration::from_millis(800);
        let mut backoff = Backoff::new(first, longest);
        for ceiling in [100, 200, 400, 800, 800, 800] {
            let ceiling = Duration::from_millis(ceiling);
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= first);
    }

    #[test]
    fn delays_are_not_all_the_same() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            seen.insert(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay());
        }
        assert!(seen.len() > 1, "no jitter: every delay was {seen:?}");
    }
}
