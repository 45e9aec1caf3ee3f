//! argon2id with memory that is kept, not allocated per hash. Each hash needs its whole
//! memory cost (19 MiB at the defaults) at once; allocated afresh every time, the
//! allocator keeps freed blocks in per-thread arenas and the process grew past 1 GiB under
//! login load (BENCHMARKS.md). Here a hash borrows a buffer from a pool, which holds no
//! more buffers than hashes ever ran at once (the lanes bound that). The pool belongs to
//! its `Passwords`.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

/// Buffers free for the next hash. Cheap to clone; clones share the buffers.
#[derive(Clone, Default)]
pub(crate) struct MemoryPool {
    free: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// The most memory a stored hash may ask for (4 GiB, `ARGON2_MEMORY_KIB`'s upper bound):
/// a hash naming more is no match rather than an allocation that could end the process.
const MAX_BLOCKS: usize = 4 * 1024 * 1024;

/// Buffers up to this many blocks are kept even when the current setting is smaller (or
/// bcrypt): OWASP's 19 MiB, so that verifying older argon2id hashes is pooled too.
const KEEP_AT_LEAST: usize = 19_456;

impl MemoryPool {
    /// Runs `f` on `blocks` blocks of memory, borrowed from the pool; `None` if they cannot
    /// be had. A buffer larger than `keep` blocks (a hash of older, larger parameters) is
    /// not kept afterwards.
    fn with_memory<T>(
        &self,
        blocks: usize,
        keep: usize,
        f: impl FnOnce(&mut [Block]) -> T,
    ) -> Option<T> {
        if blocks > MAX_BLOCKS {
            return None;
        }
        // A panic while holding the lock leaves whole buffers behind: still usable.
        let taken = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut buffer = taken.unwrap_or_default();
        if buffer.len() < blocks {
            buffer.try_reserve_exact(blocks - buffer.len()).ok()?;
            buffer.resize(blocks, Block::default());
        }
        let out = f(&mut buffer[..blocks]);
        if buffer.len() <= keep.max(KEEP_AT_LEAST) {
            self.free
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buffer);
        }
        Some(out)
    }
}

/// The PHC string of `plain` under `params`, with a fresh 16-byte salt.
pub(super) fn hash(pool: &MemoryPool, plain: &str, params: &Params) -> Result<String, String> {
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let blocks = params.block_count();
    pool.with_memory(blocks, blocks, |memory| {
        argon2.hash_password_into_with_memory(plain.as_bytes(), &salt, &mut out, memory)
    })
    .ok_or_else(|| format!("argon2id: no memory for {blocks} KiB"))?
    .map_err(|e| format!("argon2id: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| format!("argon2id: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| format!("argon2id: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| format!("argon2id: {e}"))?),
    };
    Ok(phc.to_string())
}

/// True if `plain` matches the argon2 PHC string `stored`, under the algorithm, version and
/// parameters it names; `keep`: the blocks a buffer may keep in the pool afterwards.
pub(super) fn verify(pool: &MemoryPool, plain: &str, stored: &str, keep: usize) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = pool.with_memory(params.block_count(), keep, |memory| {
        argon2.hash_password_into_with_memory(plain.as_bytes(), salt.as_ref(), &mut out, memory)
    });
    // `Output`'s equality is constant-time.
    matches!(computed, Some(Ok(()))) && Output::new(&out).is_ok_and(|o| o == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(m: u32) -> Params {
        Params::new(m, 1, 1, None).unwrap_or_default()
    }

    #[test]
    fn hashes_verify_here_and_with_the_crates_own_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let pool = MemoryPool::default();
        let stored = hash(&pool, "correct horse", &params(64)).unwrap_or_default();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert!(verify(&pool, "correct horse", &stored, 64));
        assert!(!verify(&pool, "correct horsf", &stored, 64));
        let parsed = PasswordHash::new(&stored);
        assert!(parsed.is_ok_and(|h| Argon2::default()
            .verify_password(b"correct horse", &h)
            .is_ok()));
    }

    #[test]
    fn a_hash_made_by_the_crate_verifies_here() {
        use argon2::password_hash::PasswordHasher;
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(128))
            .hash_password(b"pw")
            .map(|h| h.to_string())
            .unwrap_or_default();
        let pool = MemoryPool::default();
        assert!(verify(&pool, "pw", &theirs, 64));
        assert!(!verify(&pool, "pw!", &theirs, 64));
    }
}
