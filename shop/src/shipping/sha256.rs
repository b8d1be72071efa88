//! The checksum `LabelReady` carries: the SHA-256 of the label's bytes, so
//! that whoever prints the label can check the blob it fetched is the one
//! that was announced (the `sha2` crate does the hashing).

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, as 64 lowercase hex digits.
///
/// ```
/// use shop::shipping::sha256_hex;
/// assert_eq!(
///     sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
