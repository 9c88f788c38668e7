//! Keyed hashing shared by the Slack request signature and the approval form token.

use hmac::digest::Key;
use hmac::{Hmac, KeyInit};
use sha2::{Digest, Sha256};

/// An HMAC-SHA256 instance keyed with `key` of any length.
///
/// The key is brought to one SHA-256 block as RFC 2104 §2 says (hashed when longer than a block,
/// zero-padded when shorter) so that construction is infallible: `new_from_slice` never fails for
/// HMAC but returns a `Result`, which would need an `expect` on the invocation path.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block.iter_mut().zip(digest.iter()).for_each(|(b, d)| *b = *d);
    } else {
        block.iter_mut().zip(key.iter()).for_each(|(b, k)| *b = *k);
    }
    <Hmac<Sha256> as KeyInit>::new(&block)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use hmac::Mac;

    #[test]
    fn hmac_matches_rfc_4231_for_short_and_longer_than_block_keys() {
        let short = hmac_sha256(b"Jefe").chain_update(b"what do ya want for nothing?").finalize().into_bytes();
        assert_eq!(hex::encode(short), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long = hmac_sha256(&[0xaa; 131])
            .chain_update(b"Test Using Larger Than Block-Size Key - Hash Key First")
            .finalize()
            .into_bytes();
        assert_eq!(hex::encode(long), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
}
