//! One request id end to end. Each API request gets Trove's `X-Openstack-Request-Id`
//! (`req-<uuid>`): its handler runs in a `request` span carrying it and in a task-local scope
//! that database work ([`crate::db::Db::run`]) takes along to its blocking thread, so a flow
//! recorded by the request keeps the id in its row. The flow's steps run in a span with it and
//! send it on as the `global_request_id` of every message (the per-message `request_id` stays
//! unique: guests drop a message whose request id they have seen), and the guest, compute and
//! conductor handle each message in a span with it. Searching the log for the id finds the
//! whole story of one request.

use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

thread_local! {
    static ON_THREAD: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A fresh request id in Trove's form.
pub fn new_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// The id of the request whose work is running here, if any.
pub fn current() -> Option<String> {
    REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .or_else(|| ON_THREAD.with(|t| t.borrow().clone()))
}

/// Runs `work` as part of request `id` (nothing changes when `id` is `None`).
pub async fn scope<F: Future>(id: Option<String>, work: F) -> F::Output {
    match id {
        Some(id) => REQUEST_ID.scope(id, work).await,
        None => work.await,
    }
}

/// Runs blocking `work` on this thread as part of request `id`.
pub fn on_this_thread<T>(id: Option<String>, work: impl FnOnce() -> T) -> T {
    let before = ON_THREAD.with(|t| t.replace(id));
    let result = work();
    ON_THREAD.with(|t| *t.borrow_mut() = before);
    result
}

/// A span for handling a message that belongs to request `id` (an empty field when none).
pub fn message_span(kind: &'static str, method: &str, id: Option<&str>) -> tracing::Span {
    tracing::info_span!("message", actor.kind = kind, method = %method, request_id = id.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_trove_s_and_follow_the_work() {
        let id = new_id();
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
        assert_eq!(current(), None);
        let seen = on_this_thread(Some(id.clone()), current);
        assert_eq!(seen.as_deref(), Some(id.as_str()));
        assert_eq!(current(), None, "restored after the work");
    }
}
