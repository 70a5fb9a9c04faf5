//! argon2id with the crate's defaults, run off the async threads, at most one per spare core and
//! at a lower priority ([`HASHING_NICE`]), so a burst of sign-ins cannot starve the agents'
//! checkouts. A sign-in takes a [`Ticket`] before
//! anything else: while [`IN_LINE_PER_PERMIT`] times the permits are in line already, it is
//! refused at once (429, `Retry-After`) rather than queued without end.
//!
//! Each run works in argon2's memory (19 MiB) taken from a few buffers made once and reused, one
//! per permit. Left to the allocator, every thread that ever hashed kept its 19 MiB in its own
//! malloc arena (glibc raises its mmap threshold after the first such block is freed), so the
//! process grew by 19 MiB per arena, up to 16 arenas on two cores: the slow growth the soak showed
//! (BENCHMARKS.md, "Hardening").
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::{PasswordHasher as _, try_generate_salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{AppError, internal};

/// A hash of a password nobody knows, verified against when the user name is unknown so that the
/// answer takes as long as for a real user.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"tessera-dummy-password-for-unknown-users")
        .ok()
        .map(|h| h.to_string())
});

/// Sign-ins in line (checking or waiting to) per permit, at most: with one permit and a check of
/// some 30 ms, the last in line waits about half a second.
pub const IN_LINE_PER_PERMIT: usize = 16;

/// What a refused sign-in is told to wait, in seconds.
pub const BUSY_RETRY_SECS: u32 = 1;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// argon2's working memory, one buffer per permit once used; a run takes one and gives it back.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Sign-ins holding a [`Ticket`].
    in_line: Arc<AtomicUsize>,
    in_line_max: usize,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let permits = cores.saturating_sub(1).max(1);
        PasswordHasher {
            permits: Arc::new(Semaphore::new(permits)),
            memory: Arc::default(),
            in_line: Arc::default(),
            in_line_max: permits * IN_LINE_PER_PERMIT,
        }
    }
}

/// A place in line for one sign-in's password check; given back when dropped.
pub struct Ticket {
    hasher: PasswordHasher,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.hasher.in_line.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Ticket {
    /// Whether `password` matches `hash`; with no hash (unknown user), checks against a dummy so
    /// that the time taken does not tell which names exist, and answers false.
    pub async fn verify(self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        self.hasher.verify(password, hash).await
    }
}

impl PasswordHasher {
    /// A place in line for a sign-in's check, or `Busy` when too many are in line already.
    pub fn ticket(&self) -> Result<Ticket, AppError> {
        let before = self.in_line.fetch_add(1, Ordering::AcqRel);
        // Made first, so that a refusal gives its place back too.
        let ticket = Ticket {
            hasher: self.clone(),
        };
        if before >= self.in_line_max {
            return Err(AppError::Busy {
                seconds: BUSY_RETRY_SECS,
            });
        }
        Ok(ticket)
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move |memory| hash_in(memory, password.as_bytes()))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash, false after checking a dummy. Sign-ins
    /// call it through their [`Ticket`].
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        self.run(move |memory| {
            let known = hash.is_some();
            let Some(stored) = hash.or_else(|| DUMMY_HASH.clone()) else {
                return false;
            };
            verify_in(memory, password.as_bytes(), &stored) && known
        })
        .await
    }

    /// Runs `job` with a permit and a working-memory buffer on a thread of its own, at the lower
    /// priority [`HASHING_NICE`]: not on Tokio's blocking pool, whose threads go on to other work
    /// and would keep the lowered priority. A thread costs some microseconds; a check, 30 ms.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let pool = self.memory.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("argon2".into())
            .spawn(move || {
                lower_this_threads_priority();
                let taken = pool.lock().ok().and_then(|mut buffers| buffers.pop());
                let mut memory = taken.unwrap_or_default();
                let out = job(&mut memory);
                if let Ok(mut buffers) = pool.lock() {
                    buffers.push(memory);
                }
                // The caller may have gone (its request was dropped): nothing to tell.
                let _ = done.send(out);
            })
            .map_err(internal)?;
        // Closed only if the job panicked.
        answer.await.map_err(internal)
    }
}

/// The niceness a password check runs at (0 is the server's own, 19 the least): while agents'
/// checkouts want the cores too, the scheduler gives a thread at 10 about a tenth of the share of
/// one at 0, so a burst of sign-ins waits for the cores instead of the checkouts waiting for it
/// (issue 24: a burst of 50 sign-ins raised checkout p99 ninefold). On an idle machine a check
/// takes as long as before.
pub const HASHING_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`HASHING_NICE`], unless it is lower already; never
/// raises it (that would need privileges, and an operator's `nice` on the whole server stays).
/// Written against `libc` because the one call needs no crate of its own.
#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // SAFETY: both calls only read or set a scheduling value; on Linux, PRIO_PROCESS with id 0
    // names the calling thread alone (threads are tasks with their own niceness). `getpriority`
    // answers -1 on error too: then the niceness is set, which is what is wanted anyway.
    unsafe {
        if libc::getpriority(libc::PRIO_PROCESS, 0) < HASHING_NICE {
            libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICE);
        }
    }
}

/// Elsewhere the checks run at the server's priority.
#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

/// `memory`, grown once to what `params` need (every hash made here needs the same).
fn blocks_for<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::new());
    }
    &mut memory[..needed]
}

/// A PHC string of argon2id with the crate's default parameters and a fresh salt, as
/// `Argon2::default().hash_password` makes it, computed in `memory`.
fn hash_in(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, AppError> {
    let argon2 = Argon2::default();
    let salt = try_generate_salt().map_err(|e| internal(format_args!("salt: {e}")))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            blocks_for(memory, argon2.params()),
        )
        .map_err(|e| internal(format_args!("argon2: {e}")))?;
    fn phc(e: impl std::fmt::Display) -> AppError {
        internal(format_args!("argon2: {e}"))
    }
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon2.params()).map_err(phc)?,
        salt: Some(Salt::new(&salt).map_err(phc)?),
        hash: Some(Output::new(&out).map_err(phc)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored` (a PHC string) with the algorithm, version, parameters
/// and salt it names, computed in `memory`; compared in constant time (`Output`'s equality).
fn verify_in(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed))
    else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let memory = blocks_for(memory, argon2.params());
    argon2
        .hash_password_into_with_memory(password, salt, out, memory)
        .is_ok()
        && Output::new(out).is_ok_and(|computed| computed == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of the calling thread.
    #[cfg(target_os = "linux")]
    fn niceness() -> i32 {
        // SAFETY: reads this thread's scheduling value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_its_lower_priority_only() {
        let h = PasswordHasher::default();
        let before = niceness();
        let during = h.run(|_| niceness()).await.unwrap();
        assert_eq!(during, HASHING_NICE.max(before));
        assert_eq!(niceness(), before, "the caller's thread keeps its priority");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = PasswordHasher::default();
        let hash = h.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            h.verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("wrong horse".into(), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_agree_with_the_crate_s_own_both_ways() {
        use argon2::password_hash::PasswordVerifier as _;
        let h = PasswordHasher::default();
        // Made here, checked by the crate.
        let ours = h.hash("correct horse".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // Made by the crate (as stored by earlier versions), checked here; with other
        // parameters too, which need more memory than the buffer has.
        let theirs = Argon2::default().hash_password(b"battery").unwrap();
        assert!(
            h.verify("battery".into(), Some(theirs.to_string()))
                .await
                .unwrap()
        );
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 2, 1, Some(16)).unwrap(),
        )
        .hash_password(b"staple")
        .unwrap()
        .to_string();
        assert!(
            h.verify("staple".into(), Some(bigger.clone()))
                .await
                .unwrap()
        );
        assert!(!h.verify("stapler".into(), Some(bigger)).await.unwrap());
        // Nonsense is no match, not an error.
        for stored in [
            "",
            "$argon2id$",
            "plain text",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",
        ] {
            assert!(
                !h.verify("x".into(), Some(stored.into())).await.unwrap(),
                "{stored}"
            );
        }
    }

    #[test]
    fn the_working_memory_is_made_once_and_reused() {
        let mut memory = Vec::new();
        hash_in(&mut memory, b"one").unwrap();
        let (len, at) = (memory.len(), memory.as_ptr());
        assert_eq!(len, Params::default().block_count());
        let stored = hash_in(&mut memory, b"two").unwrap();
        assert!(verify_in(&mut memory, b"two", &stored));
        assert_eq!((memory.len(), memory.as_ptr()), (len, at));
    }

    #[test]
    fn tickets_beyond_the_line_are_refused_and_given_back() {
        let h = PasswordHasher {
            in_line_max: 2,
            ..PasswordHasher::default()
        };
        let first = h.ticket().unwrap();
        let second = h.ticket().unwrap();
        assert_eq!(
            h.ticket().err(),
            Some(AppError::Busy {
                seconds: BUSY_RETRY_SECS
            })
        );
        assert_eq!(h.in_line.load(Ordering::Acquire), 2);
        drop(first);
        let third = h.ticket().unwrap();
        drop((second, third));
        assert_eq!(h.in_line.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let h = PasswordHasher::default();
        assert!(
            !h.verify("tessera-dummy-password-for-unknown-users".into(), None)
                .await
                .unwrap()
        );
    }
}
