//! Randomness from the operating system ([`OsRandom`] implements [`Randomness`]): approval ids and
//! form nonces are drawn here.

use keyward_core::ports::{PortError, Randomness};

/// The operating system's random source (`getrandom`: the `getrandom(2)` syscall on Linux).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Randomness for OsRandom {
    /// 32 fresh bytes, or an error if the OS source fails; there is deliberately no weaker
    /// fallback, so the caller fails the invocation instead of minting a guessable id.
    fn bytes32(&self) -> Result<[u8; 32], PortError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| PortError::Failed {
            operation: "getrandom",
            message: format!("the OS random source failed: {e}"),
        })?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        let (a, b) = (OsRandom.bytes32(), OsRandom.bytes32());
        assert!(matches!((a, b), (Ok(a), Ok(b)) if a != b));
    }
}
