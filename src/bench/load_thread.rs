//! The load client on a thread of its own: what a benchmark sends runs on its own runtime and
//! thread, so its CPU is measured apart (the thread's CPU clock) and subtracted from the
//! process's to give coffer's own, and it does not share the actors' thread.

use std::future::Future;

/// CPU seconds the calling thread has used (user + system).
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we pass; CLOCK_THREAD_CPUTIME_ID always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Runs the future `make` builds on a new thread with its own actix runtime; returns its output
/// and the CPU seconds that thread used.
pub(crate) async fn run<F, Fut, T>(make: F) -> anyhow::Result<(T, f64)>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("bench-load".into()).spawn(move || {
        let outcome = actix_rt::Runtime::new().map(|runtime| {
            let began = thread_cpu_seconds();
            let output = runtime.block_on(make());
            (output, thread_cpu_seconds() - began)
        });
        let _ = done.send(outcome);
    })?;
    Ok(result.await??)
}
