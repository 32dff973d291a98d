//! Seals on registry records that make a node destroy data: HMAC-SHA256 under the cluster
//! secret, which lives only in each node's own config (0600), never in etcd. Someone who can
//! write to the registry but is not a node cannot forge a tombstone, so no record written by
//! them alone makes a node destroy a branch.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

#[derive(Clone)]
pub struct Sealer {
    key: [u8; BLOCK],
}

impl Sealer {
    pub fn new(secret: &str) -> Sealer {
        let mut key = [0u8; BLOCK];
        if secret.len() > BLOCK {
            key[..32].copy_from_slice(&Sha256::digest(secret.as_bytes()));
        } else {
            key[..secret.len()].copy_from_slice(secret.as_bytes());
        }
        Sealer { key }
    }

    fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let pad = |byte: u8| -> Vec<u8> { self.key.iter().map(|k| k ^ byte).collect() };
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// The seal of a tombstone for filesystem `fs_id`, hex.
    pub fn tombstone(&self, fs_id: &str) -> String {
        crate::ids::hex(&self.mac(format!("dm-tombstone:{fs_id}").as_bytes()))
    }

    /// Whether `value` is this cluster's seal of a tombstone for `fs_id`.
    pub fn is_tombstone(&self, fs_id: &str, value: &[u8]) -> bool {
        std::str::from_utf8(value).is_ok_and(|v| super::same(&self.tombstone(fs_id), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let s = Sealer::new("Jefe");
        assert_eq!(
            crate::ids::hex(&s.mac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tombstones_verify_only_under_the_same_secret_and_id() {
        let (a, b) = (Sealer::new("secret-a"), Sealer::new("secret-b"));
        let seal = a.tombstone("fs1");
        assert!(a.is_tombstone("fs1", seal.as_bytes()));
        assert!(!b.is_tombstone("fs1", seal.as_bytes()));
        assert!(!a.is_tombstone("fs2", seal.as_bytes()));
        assert!(!a.is_tombstone("fs1", b"master"));
        assert!(!a.is_tombstone("fs1", b""));
    }
}
