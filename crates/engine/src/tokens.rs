//! Tokens: the control API's token and each service's own token.
//!
//! A service's token is HMAC-SHA256(host key, service name), so it is stable across
//! restarts of ashtray (running containers keep a valid token) and one service's token
//! tells nothing about another's.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

pub fn service_token(key: &Secret, service_name: &str) -> Secret {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(service_name.as_bytes());
    Secret::new(hex::encode(mac.finalize().into_bytes()))
}

/// Whether `token` is the service token of `service_name`, compared in constant time.
pub fn verify_service_token(key: &Secret, service_name: &str, token: &str) -> bool {
    let Ok(given) = hex::decode(token) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(service_name.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// A fresh random token, 32 bytes as hex.
pub fn random_token() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differs_per_service_and_per_key_and_is_stable() {
        let key = Secret::new("k");
        assert_ne!(service_token(&key, "a"), service_token(&key, "b"));
        assert_ne!(
            service_token(&key, "a"),
            service_token(&Secret::new("j"), "a")
        );
        assert_eq!(service_token(&key, "a"), service_token(&key, "a"));
        assert_eq!(service_token(&key, "a").expose().len(), 64);
        let token = service_token(&key, "a");
        assert!(verify_service_token(&key, "a", token.expose()));
        assert!(!verify_service_token(&key, "b", token.expose()));
        assert!(!verify_service_token(&key, "a", "nothex"));
    }
}
