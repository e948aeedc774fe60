//! The one retry policy of the service and its agent: exponential backoff with jitter (the `backon` crate),
//! in a few named strengths. Every loop that waits before trying again (a write that lost a race, a store
//! listener or an agent reconnecting, a call to Key Vault) takes its delays from here, so that a crowd of
//! callers failing at once spreads out instead of coming back together.

use std::time::Duration;

pub use backon::{Backoff, BackoffBuilder, Retryable};

/// How a loop backs off: delays from `min` doubling up to `max`, each with a random jitter, for at most
/// `times` attempts (or without end, for loops that run as long as the process).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub min: Duration,
    pub max: Duration,
    pub times: Option<usize>,
}

/// Writers that lost a race to a concurrent change of the same record or cluster: they read and decide again
/// at once, then after a few milliseconds.
pub const CONTENTION: Policy = Policy {
    min: Duration::from_millis(1),
    max: Duration::from_millis(64),
    times: Some(10),
};

/// A connection that will be needed for as long as the process runs (an agent's to its server, a store's
/// change listener): from half a second up to a minute, without end.
pub const RECONNECT: Policy = Policy {
    min: Duration::from_millis(500),
    max: Duration::from_secs(60),
    times: None,
};

/// One call to a remote service that failed transiently (throttled, unavailable): a few quick tries before
/// the caller is told.
pub const REMOTE_CALL: Policy = Policy {
    min: Duration::from_millis(100),
    max: Duration::from_secs(2),
    times: Some(3),
};

impl Policy {
    /// The same delays, without a limit on attempts (the caller stops on its own deadline).
    pub const fn unbounded(self) -> Self {
        Policy { times: None, ..self }
    }

    pub fn builder(&self) -> backon::ExponentialBuilder {
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_jitter();
        match self.times {
            Some(times) => builder.with_max_times(times),
            None => builder.without_max_times(),
        }
    }

    /// A fresh sequence of delays (`None` once the attempts are used up).
    pub fn delays(&self) -> impl Backoff + use<> {
        self.builder().build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_their_bounds_and_end_after_their_attempts() {
        let delays: Vec<Duration> = CONTENTION.delays().collect();
        assert_eq!(delays.len(), 10);
        for delay in &delays {
            // The jitter adds up to one delay again.
            assert!(*delay <= CONTENTION.max * 2, "{delay:?}");
        }
        assert!(delays[0] < Duration::from_millis(3));
        let reconnect: Vec<Duration> = RECONNECT.delays().take(50).collect();
        assert_eq!(reconnect.len(), 50, "a reconnect loop never runs out");
        assert!(reconnect.iter().all(|d| *d <= RECONNECT.max * 2));
        assert!(reconnect[20] >= RECONNECT.max, "it reaches its ceiling");
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_reported() {
        let mut calls = 0;
        let outcome: Result<(), &str> = (|| {
            calls += 1;
            async { Err("unavailable") }
        })
        .retry(REMOTE_CALL.builder())
        .await;
        assert_eq!(
            (outcome, calls),
            (Err("unavailable"), 4),
            "one call and three retries"
        );
    }
}
