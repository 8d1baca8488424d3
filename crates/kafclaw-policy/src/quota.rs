//! The daily token quota, checked before every model call.

/// The daily token budget is used up (or the next call would overrun it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "daily token quota exhausted: used {used} of {limit} tokens today (the next call needs about {estimated})"
)]
pub struct QuotaExceeded {
    /// Tokens used so far in the current UTC day.
    pub used: u64,
    /// The configured `daily_token_limit`.
    pub limit: u64,
    /// The caller's estimate for the call it wanted to make.
    pub estimated: u64,
}

/// Checks a daily budget: `limit == 0` means unlimited; otherwise the call is refused when
/// the day's usage has reached the limit or `used + estimated` would go beyond it.
pub fn check_quota(limit: u64, used_today: u64, estimated: u64) -> Result<(), QuotaExceeded> {
    if limit == 0 {
        return Ok(());
    }
    if used_today >= limit || used_today.saturating_add(estimated) > limit {
        return Err(QuotaExceeded {
            used: used_today,
            limit,
            estimated,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limit_is_unlimited() {
        assert_eq!(check_quota(0, u64::MAX, u64::MAX), Ok(()));
    }

    #[test]
    fn under_limit_passes() {
        assert_eq!(check_quota(1000, 400, 500), Ok(()));
        assert_eq!(check_quota(1000, 400, 600), Ok(()));
    }

    #[test]
    fn reached_limit_fails_even_with_zero_estimate() {
        let err = check_quota(1000, 1000, 0).unwrap_err();
        assert_eq!(err.used, 1000);
        assert!(
            err.to_string()
                .starts_with("daily token quota exhausted: used 1000 of 1000")
        );
    }

    #[test]
    fn estimate_that_overruns_fails() {
        let err = check_quota(1000, 900, 101).unwrap_err();
        assert_eq!(
            err,
            QuotaExceeded {
                used: 900,
                limit: 1000,
                estimated: 101
            }
        );
    }

    #[test]
    fn saturating_sum_does_not_wrap() {
        assert!(check_quota(10, 5, u64::MAX).is_err());
    }
}
