//! Passwords and the API key they unlock (`dm user passwd`, `dm user key`). A password is kept
//! as a salted PBKDF2-HMAC-SHA256 hash; the user's API key as AES-256-GCM ciphertext under a
//! key derived (PBKDF2 again, another salt) from the password. So the registry never holds a
//! key or a password in clear, and only someone who knows the password can have the key shown.
//! Both are stored as `pbkdf2-sha256$ITERATIONS$SALT$VALUE` (hex), so the cost can grow later.

use std::num::NonZeroU32;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::pbkdf2::{self, PBKDF2_HMAC_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::ids::{hex, unhex};

/// About 0.1 s on one core: cheap for a login, slow for guessing.
const ITERATIONS: NonZeroU32 = NonZeroU32::new(200_000).unwrap();
const SCHEME: &str = "pbkdf2-sha256";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source works");
    b
}

fn derive(iterations: NonZeroU32, salt: &[u8], password: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::derive(
        PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// The parts of a stored value: iterations, salt, value.
fn parts(stored: &str) -> Option<(NonZeroU32, Vec<u8>, Vec<u8>)> {
    let mut it = stored.split('$');
    if it.next()? != SCHEME {
        return None;
    }
    let n = NonZeroU32::new(it.next()?.parse().ok()?)?;
    let salt = unhex(it.next()?)?;
    let value = unhex(it.next()?)?;
    it.next().is_none().then_some((n, salt, value))
}

fn stored(iterations: NonZeroU32, salt: &[u8], value: &[u8]) -> String {
    format!("{SCHEME}${iterations}${}${}", hex(salt), hex(value))
}

/// A new password's stored hash.
pub fn hash(password: &str) -> String {
    let salt: [u8; 16] = random();
    stored(ITERATIONS, &salt, &derive(ITERATIONS, &salt, password))
}

/// Whether `password` is the one `stored` was made from (in constant time).
pub fn verify(stored: &str, password: &str) -> bool {
    match parts(stored) {
        Some((n, salt, value)) => {
            pbkdf2::verify(PBKDF2_HMAC_SHA256, n, &salt, password.as_bytes(), &value).is_ok()
        }
        None => false,
    }
}

/// `secret` sealed under `password`.
pub fn seal(password: &str, secret: &str) -> String {
    let salt: [u8; 16] = random();
    let nonce: [u8; NONCE_LEN] = random();
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &derive(ITERATIONS, &salt, password)).expect("a 32-byte key"),
    );
    let mut data = secret.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .expect("sealing a short secret works");
    let mut value = nonce.to_vec();
    value.extend(data);
    stored(ITERATIONS, &salt, &value)
}

/// The secret `sealed` holds, if `password` is the one it was sealed with.
pub fn unseal(sealed: &str, password: &str) -> Option<String> {
    let (n, salt, value) = parts(sealed)?;
    if value.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = value.split_at(NONCE_LEN);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &derive(n, &salt, password)).ok()?);
    let mut data = data.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let plain = key.open_in_place(nonce, Aad::empty(), &mut data).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_others_do_not() {
        let h = hash("correct horse");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct hors"));
        assert!(!verify("garbage", "correct horse"));
        assert_ne!(hash("correct horse"), h, "salted");
    }

    #[test]
    fn a_sealed_key_opens_with_its_password_only() {
        let s = seal("pw", "the-api-key");
        assert_eq!(unseal(&s, "pw").as_deref(), Some("the-api-key"));
        assert_eq!(unseal(&s, "other"), None);
        assert!(!s.contains("the-api-key"));
        // Tampered with: refused, not garbage.
        let mut bad = s.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        assert_eq!(unseal(&bad, "pw"), None);
    }
}
