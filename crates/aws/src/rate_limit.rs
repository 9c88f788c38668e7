//! A token bucket that spaces requests to a service at a fixed rate. The IAM adapter shares one per
//! instance between all its calls, so that concurrent reads stay within the invocation's share of
//! the account's IAM request budget.

use std::time::Duration;

use tokio::time::Instant;

/// Lowest and highest rates the limiter accepts; outside values (and NaN) are clamped.
const MIN_RPS: f64 = 0.01;
const MAX_RPS: f64 = 1000.0;

/// A token bucket: `rate` tokens a second, holding at most `max(1, rate)`, starting with one.
/// Each request takes one token, waiting for it if needed. Waiters are served in arrival order
/// (the lock is fair and is held while waiting).
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    capacity: f64,
    bucket: tokio::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A limiter allowing `rps` requests per second (clamped to 0.01–1000).
    pub fn new(rps: f64) -> RateLimiter {
        let rate = if rps.is_nan() { MIN_RPS } else { rps.clamp(MIN_RPS, MAX_RPS) };
        RateLimiter {
            rate,
            capacity: rate.max(1.0),
            bucket: tokio::sync::Mutex::new(Bucket { tokens: 1.0, refilled_at: Instant::now() }),
        }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        self.refill(&mut bucket);
        if bucket.tokens < 1.0 {
            let wait = Duration::try_from_secs_f64((1.0 - bucket.tokens) / self.rate).unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
            self.refill(&mut bucket);
        }
        bucket.tokens -= 1.0;
    }

    fn refill(&self, bucket: &mut Bucket) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.capacity);
        bucket.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limiter_spaces_requests_at_its_rate_after_the_first() {
        let limiter = RateLimiter::new(4.0);
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire().await;
        }
        // One token at start, then one every 250 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_bursts_at_most_its_rate_after_idling() {
        let limiter = RateLimiter::new(3.0);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a full bucket holds three tokens");
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(333), "the fourth waits for a refill");
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_is_shared_by_concurrent_callers() {
        let limiter = Arc::new(RateLimiter::new(2.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { limiter.acquire().await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.is_ok());
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn limiter_clamps_nonsense_rates() {
        assert_eq!(RateLimiter::new(f64::NAN).rate, MIN_RPS);
        assert_eq!(RateLimiter::new(0.0).rate, MIN_RPS);
        assert_eq!(RateLimiter::new(f64::INFINITY).rate, MAX_RPS);
    }
}
