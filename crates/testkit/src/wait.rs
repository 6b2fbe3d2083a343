//! Waiting for a condition instead of for a time: a fixed sleep is a guess
//! that fails on a busy machine and wastes time on an idle one.

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(20);

/// Whether `condition` came true within `within`. It is checked at once,
/// then every 20 ms, and once more at the deadline.
pub async fn eventually(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep_until((Instant::now() + POLL).min(deadline)).await;
    }
}

/// Waits until `condition` is true; fails after `within` with
/// "gave up after WITHIN waiting until WHAT".
pub async fn wait_until(what: &str, within: Duration, condition: impl AsyncFnMut() -> bool) {
    assert!(
        eventually(within, condition).await,
        "gave up after {within:?} waiting until {what}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[should_panic(expected = "gave up after 100ms waiting until the moon is cheese")]
    async fn wait_until_says_what_it_waited_for_when_time_is_up() {
        wait_until(
            "the moon is cheese",
            Duration::from_millis(100),
            async || false,
        )
        .await;
    }

    #[tokio::test]
    async fn wait_until_returns_as_soon_as_the_condition_holds() {
        let started = Instant::now();
        let mut checks = 0;
        wait_until("the third check", Duration::from_secs(10), async || {
            checks += 1;
            checks == 3
        })
        .await;
        assert_eq!(checks, 3);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn eventually_checks_once_more_at_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(
            eventually(Duration::from_millis(50), async || Instant::now()
                >= deadline)
            .await
        );
        assert!(!eventually(Duration::ZERO, async || false).await);
    }
}
