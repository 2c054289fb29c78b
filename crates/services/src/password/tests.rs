use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use super::*;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher(workers: usize, queue: usize, max_wait: Duration) -> PasswordHasher {
    PasswordHasher::with_config(HasherConfig {
        workers,
        queue,
        max_wait,
    })
    .expect("hasher")
}

/// Occupies one worker until the returned sender is dropped or sent to.
async fn block_a_worker(hasher: &PasswordHasher) -> std::sync::mpsc::Sender<()> {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = oneshot::channel();
    let blocker = hasher.clone();
    tokio::spawn(async move {
        blocker
            .run(move |_| {
                let _ = started.send(());
                let _ = wait.recv();
            })
            .await
    });
    running.await.expect("the blocking job started");
    release
}

/// A one-worker hasher with this queue and wait, its worker blocked until
/// the returned sender is dropped or sent to.
async fn blocked(
    queue: usize,
    max_wait: Duration,
) -> (PasswordHasher, std::sync::mpsc::Sender<()>) {
    let hasher = hasher(1, queue, max_wait);
    let release = block_a_worker(&hasher).await;
    (hasher, release)
}

/// A refusal of a busy hasher, to retry after `seconds`.
fn busy_for<T>(seconds: u64) -> Result<T, HashError> {
    Err(HashError::Busy {
        retry_after: Duration::from_secs(seconds),
    })
}

/// A one-worker hasher whose worker is blocked, with a job behind it
/// that counts its runs.
struct CountedJob {
    hasher: PasswordHasher,
    release: std::sync::mpsc::Sender<()>,
    ran: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Result<usize, HashError>>,
}

/// Blocks the worker of a hasher with a queue of 8 and this wait, and
/// spawns a counting job behind it.
async fn counted_job(max_wait: Duration) -> CountedJob {
    let (hasher, release) = blocked(8, max_wait).await;
    let ran = Arc::new(AtomicUsize::new(0));
    let (job_hasher, counter) = (hasher.clone(), Arc::clone(&ran));
    let task = tokio::spawn(async move {
        job_hasher
            .run(move |_| counter.fetch_add(1, Ordering::SeqCst))
            .await
    });
    CountedJob {
        hasher,
        release,
        ran,
        task,
    }
}

/// Waits until a job is queued; fails after 10 s (a job never counted as
/// queued is a bug, not a slow machine).
async fn until_queued(hasher: &PasswordHasher) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while hasher.queued() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a job is counted as queued");
}

#[test]
fn a_hash_is_an_argon2id_phc_string_with_our_parameters() {
    let hash = hash_password("correct horse battery staple").expect("hash");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));
}

#[test]
fn the_right_password_verifies_and_a_wrong_one_does_not() {
    let hash = hash_password("correct horse battery staple").expect("hash");
    assert!(verify_password("correct horse battery staple", &hash));
    assert!(!verify_password("correct horse battery stapler", &hash));
    assert!(!verify_password("", &hash));
}

#[test]
fn the_same_password_hashes_differently_each_time() {
    let a = hash_password("same password").expect("hash");
    let b = hash_password("same password").expect("hash");
    assert_ne!(a, b, "fresh salt");
}

#[test]
fn a_malformed_hash_never_verifies() {
    for hash in [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0",
        "$argon2q$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$md5$x",
    ] {
        assert!(!verify_password("anything", hash), "{hash:?}");
    }
}

#[test]
fn unicode_passwords_round_trip() {
    let hash = hash_password("pässwörd-🔑-密码").expect("hash");
    assert!(verify_password("pässwörd-🔑-密码", &hash));
    assert!(!verify_password("passwort-🔑-密码", &hash));
}

/// The argon2 crate's own Argon2id hasher with `memory_kib` and `passes`
/// (one lane), as other code, or an older release, would hash.
fn argon2id(memory_kib: u32, passes: u32) -> Argon2<'static> {
    let params = Params::new(memory_kib, passes, PARALLELISM, None).expect("params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[test]
fn hashes_agree_with_the_argon2_crates_own_hasher_both_ways() {
    // Hashes stored before the workers existed were made by the crate's
    // own `hash_password`; they must keep verifying, and ours must verify
    // with the crate's verifier.
    let theirs = argon2id(MEMORY_KIB, ITERATIONS);
    let stored = theirs
        .hash_password(b"an older password")
        .expect("hash")
        .to_string();
    assert!(verify_password("an older password", &stored));
    assert!(!verify_password("an older passwore", &stored));

    let ours = hash_password("a newer password").expect("hash");
    let parsed = PasswordHash::new(&ours).expect("PHC");
    assert!(theirs.verify_password(b"a newer password", &parsed).is_ok());
    assert!(
        theirs
            .verify_password(b"a newer passwore", &parsed)
            .is_err()
    );
}

#[test]
fn a_hash_that_needs_more_memory_than_a_worker_owns_does_not_verify() {
    let bigger = argon2id(MEMORY_KIB * 2, 1)
        .hash_password(b"password")
        .expect("hash")
        .to_string();

    assert!(!verify_password("password", &bigger));
    let smaller = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(1024, 1, 1, None).expect("params"),
    )
    .hash_password(b"password")
    .expect("hash")
    .to_string();
    assert!(verify_password("password", &smaller), "less memory is fine");
}

#[test]
fn no_password_matches_the_dummy_hash() {
    let dummy = dummy_hash().expect("dummy");
    assert!(dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert_ne!(dummy, dummy_hash().expect("dummy"));
    assert!(!verify_password("", &dummy));
    assert!(!verify_password("password", &dummy));
}

#[tokio::test]
async fn the_hasher_hashes_and_verifies_on_its_workers() {
    let hasher = PasswordHasher::with_workers(1).expect("hasher");
    let password = Password::parse("correct horse").expect("valid");

    let hash = hasher.hash(&password).await.expect("hash");

    assert_eq!(hasher.verify("correct horse", &hash).await, Ok(true));
    assert_eq!(hasher.verify("wrong horse", &hash).await, Ok(false));
    assert_eq!(hasher.verify_dummy("correct horse").await, Ok(false));
    let debug = format!("{hasher:?}");
    assert!(!debug.contains("argon2id"), "{debug}");
    assert!(debug.contains("workers: 1"), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_jobs_run_at_once_than_there_are_workers() {
    let hasher = hasher(2, 64, Duration::from_secs(30));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (hasher, running, peak) = (hasher.clone(), Arc::clone(&running), Arc::clone(&peak));
            tokio::spawn(async move {
                hasher
                    .run(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("ran");
    }

    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_worker_reuses_one_block_of_memory_for_every_job() {
    let hasher = hasher(2, 64, Duration::from_secs(30));
    let blocks = Arc::new(Mutex::new(HashSet::new()));
    let password = Password::parse("correct horse").expect("valid");
    assert_eq!(hasher.memory_in_use(), 0, "taken on the first job");

    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (hasher, blocks) = (hasher.clone(), Arc::clone(&blocks));
            tokio::spawn(async move {
                hasher
                    .run(move |memory| {
                        assert_eq!(memory.len(), MEMORY_KIB as usize);
                        std::thread::sleep(Duration::from_millis(1));
                        blocks
                            .lock()
                            .expect("lock")
                            .insert(memory.as_ptr() as usize);
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("ran");
    }
    let hash = hasher.hash(&password).await.expect("hash");
    assert_eq!(hasher.verify("correct horse", &hash).await, Ok(true));

    let distinct = blocks.lock().expect("lock").len();
    assert!(distinct <= 2, "{distinct} blocks for 2 workers");
    assert!(hasher.memory_in_use() <= 2 * MEMORY_PER_WORKER);
    assert!(hasher.memory_in_use() >= MEMORY_PER_WORKER);
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once_with_a_retry_after() {
    let (hasher, release) = blocked(1, Duration::from_secs(3)).await;
    let waiting = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.run(|_| "ran").await })
    };
    until_queued(&hasher).await;

    let refused = hasher.verify("password", "$argon2id$x").await;

    assert_eq!(refused, busy_for(3));
    release.send(()).expect("release");
    assert_eq!(
        waiting.await.expect("join"),
        Ok("ran"),
        "the queued job ran"
    );
}

#[tokio::test]
async fn a_job_that_waited_too_long_is_refused_unrun() {
    let job = counted_job(Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    job.release.send(()).expect("release");

    let refused = job.task.await.expect("join");

    assert_eq!(
        refused,
        busy_for(1),
        "a wait under a second is retried after one"
    );
    assert_eq!(job.ran.load(Ordering::SeqCst), 0);
    assert_eq!(
        job.hasher.run(|_| "fresh").await,
        Ok("fresh"),
        "a job that did not wait runs"
    );
}

#[tokio::test]
async fn a_job_whose_caller_left_is_not_run() {
    let job = counted_job(Duration::from_secs(30)).await;
    until_queued(&job.hasher).await;
    job.task.abort();
    let _ = job.task.await;
    job.release.send(()).expect("release");

    assert_eq!(job.hasher.run(|_| "after").await, Ok("after"));
    assert_eq!(job.ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_its_worker_carries_on() {
    let hasher = hasher(1, 8, Duration::from_secs(30));

    let failed = hasher.run(|_| -> u8 { panic!("boom") }).await;

    assert!(matches!(failed, Err(HashError::Failed(_))), "{failed:?}");
    assert_eq!(hasher.run(|_| 7).await, Ok(7));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn workers_run_under_sched_idle() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };
    let hasher = hasher(1, 8, Duration::from_secs(30));

    let (policy, name) = hasher
        .run(|_| {
            (
                thread_schedule_policy().expect("policy"),
                std::thread::current().name().map(str::to_owned),
            )
        })
        .await
        .expect("ran");

    assert_eq!(
        policy,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
    );
    assert_eq!(name.as_deref(), Some("argon2-0"));
    assert_eq!(
        thread_schedule_policy().expect("policy"),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        "the caller's own thread is left alone"
    );
}

#[test]
fn a_zero_configuration_still_has_one_worker_and_a_queue_of_one() {
    let hasher = hasher(0, 0, Duration::ZERO);
    assert_eq!(hasher.config().workers, 1);
    assert_eq!(hasher.config().queue, 1);
    assert!(HasherConfig::default().workers >= 1);
}

#[test]
fn with_workers_sets_the_workers_and_keeps_the_other_defaults() {
    let workers = HasherConfig::default().workers + 3;
    let config = PasswordHasher::with_workers(workers)
        .expect("hasher")
        .config();
    assert_eq!(config.workers, workers);
    assert_eq!(config.queue, HasherConfig::default().queue);
    assert_eq!(config.max_wait, HasherConfig::default().max_wait);
}

#[test]
fn one_worker_per_two_cores_at_least_one() {
    let workers: Vec<usize> = [1, 2, 3, 4, 8, 16]
        .into_iter()
        .map(HasherConfig::workers_for)
        .collect();
    assert_eq!(workers, [1, 1, 1, 2, 4, 8]);
}

#[test]
fn a_worker_owns_owasps_19_mib() {
    assert_eq!(MEMORY_PER_WORKER, 19 * 1024 * 1024);
}

#[test]
fn retry_after_is_the_longest_wait_in_whole_seconds_rounded_up_at_least_one() {
    let retry_after = |max_wait| {
        Shared {
            config: HasherConfig {
                max_wait,
                ..HasherConfig::default()
            },
            memories: AtomicUsize::new(0),
        }
        .retry_after()
    };
    let waits = [0, 400, 1_000, 1_500, 2_000].map(Duration::from_millis);
    assert_eq!(
        waits.map(retry_after),
        [1, 1, 1, 2, 2].map(Duration::from_secs)
    );
}

#[tokio::test]
async fn a_dummy_verification_does_the_work_of_a_real_one() {
    let hasher = PasswordHasher::with_workers(1).expect("hasher");
    assert_eq!(hasher.memory_in_use(), 0, "no job yet");

    assert_eq!(hasher.verify_dummy("any password").await, Ok(false));

    assert_eq!(
        hasher.memory_in_use(),
        MEMORY_PER_WORKER,
        "a worker ran it, in its own Argon2 memory"
    );
}

#[test]
fn a_hash_stored_with_other_parameters_verifies_with_its_own() {
    // Parameters change between releases; a hash keeps the ones it was
    // made with (here: three passes, less memory) and is checked by them.
    let older = argon2id(MEMORY_KIB / 2, ITERATIONS + 1);
    let stored = older
        .hash_password(b"a password from before")
        .expect("hash")
        .to_string();

    assert!(verify_password("a password from before", &stored));
    assert!(!verify_password("a password from after", &stored));
}
