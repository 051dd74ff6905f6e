//! The one writer of completions in this process. Requests are parsed and keyed by the
//! handlers, then queued here with a reply channel; the writer takes everything queued (up to a
//! bound) and, once it holds the ledger lock, what queued while it waited, applies it in arrival
//! order in one money transaction, commits once, and answers every request. One commit (one
//! fsync) per group instead of one per request, and the requests of many clients share the
//! group's set queries. Between groups the writer keeps the
//! catalog rows and the platform and course counters it read or wrote ([`Kept`]), read again
//! whenever another writer (an admin change, another replica) wrote in between. Any write
//! under the ledger lock counts, a console sign-in as well: with several replicas nearly every
//! group reads everything again, as it did before anything was kept.

use super::group::{self, Answer, Kept, Request};
use super::ServiceError;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::sync::oneshot;

/// Events in one group at most (a group always takes at least one request whole).
pub const GROUP_EVENTS: usize = 4_000;

struct Queued {
    request: Request,
    reply: oneshot::Sender<Answer>,
    at: Instant,
}

impl AsRef<Request> for Queued {
    fn as_ref(&self) -> &Request {
        &self.request
    }
}

pub struct Writer {
    queue: mpsc::Sender<Queued>,
    /// Events queued and not yet taken into a group.
    waiting: Arc<AtomicUsize>,
    /// Events that may wait at most; past it requests are refused (503 with `Retry-After`)
    /// instead of growing memory. A request larger than this still queues alone.
    capacity: usize,
    metrics: Metrics,
}

impl Writer {
    /// Starts the writer thread on `ledger` (its own connection), and beside it the thread
    /// that checkpoints SQLite's log through `books` after each group, off the writer's path.
    /// Both end when the last handle to the queue is dropped, after answering everything
    /// queued, so a graceful shutdown loses nothing.
    pub fn start(
        ledger: Store,
        books: Store,
        clock: Arc<dyn Clock>,
        capacity: usize,
        metrics: Metrics,
    ) -> Writer {
        let (queue, inbox) = mpsc::channel::<Queued>();
        let (kick, kicks) = mpsc::sync_channel::<()>(1);
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        let observed = metrics.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || run(&ledger, clock.as_ref(), &inbox, &kick, &taken, &observed))
            .expect("the writer thread starts");
        std::thread::Builder::new()
            .name("wal-checkpoints".into())
            .spawn(move || {
                while kicks.recv().is_ok() {
                    if let Err(failure) = books.checkpoint() {
                        tracing::warn!(error = %failure, "checkpoint failed; the next group retries it");
                    }
                }
            })
            .expect("the checkpoint thread starts");
        Writer {
            queue,
            waiting,
            capacity,
            metrics,
        }
    }

    /// Queues a request; the answer arrives on the returned channel once its group committed.
    pub fn submit(&self, request: Request) -> Result<oneshot::Receiver<Answer>, ServiceError> {
        let events = request.events.len();
        let before = self.waiting.fetch_add(events, Ordering::SeqCst);
        if before > 0 && before + events > self.capacity {
            self.waiting.fetch_sub(events, Ordering::SeqCst);
            return Err(ServiceError::Busy);
        }
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            request,
            reply,
            at: Instant::now(),
        };
        if self.queue.send(queued).is_err() {
            self.waiting.fetch_sub(events, Ordering::SeqCst);
            return Err(writer_stopped());
        }
        self.metrics.ingest_queue_events.set(gauge(before + events));
        Ok(answer)
    }
}

fn writer_stopped() -> ServiceError {
    ServiceError::Store(StoreError::Unavailable(
        "the ledger writer has stopped".into(),
    ))
}

fn gauge(events: usize) -> i64 {
    i64::try_from(events).unwrap_or(i64::MAX)
}

fn run(
    store: &Store,
    clock: &dyn Clock,
    inbox: &mpsc::Receiver<Queued>,
    checkpoint: &mpsc::SyncSender<()>,
    waiting: &AtomicUsize,
    metrics: &Metrics,
) {
    let mut kept = Kept::default();
    // Moves requests from `arriving` into `batch` while the group has room, and counts them off
    // `waiting`.
    let take = |batch: &mut Vec<Queued>, arriving: &mut dyn Iterator<Item = Queued>| {
        let mut events: usize = batch.iter().map(|q| q.request.events.len()).sum();
        let mut taken = 0;
        while events < GROUP_EVENTS {
            let Some(next) = arriving.next() else { break };
            events += next.request.events.len();
            taken += next.request.events.len();
            batch.push(next);
        }
        let left = waiting.fetch_sub(taken, Ordering::SeqCst) - taken;
        metrics.ingest_queue_events.set(gauge(left));
    };
    while let Ok(first) = inbox.recv() {
        let mut batch = Vec::new();
        take(
            &mut batch,
            &mut std::iter::once(first).chain(inbox.try_iter()),
        );
        let answers = answer_group(store, &mut kept, clock, &mut batch, |batch| {
            take(batch, &mut inbox.try_iter())
        });
        let events: usize = batch.iter().map(|q| q.request.events.len()).sum();
        metrics.write_group_events.observe(events as f64);
        for (queued, answer) in batch.into_iter().zip(answers) {
            metrics
                .write_wait_seconds
                .observe(queued.at.elapsed().as_secs_f64());
            // A client that went away no longer waits for its answer; what was stored stays.
            let _ = queued.reply.send(answer);
        }
        // One kick pending is enough: the checkpoint copies whatever is in the log by then.
        let _ = checkpoint.try_send(());
    }
}

/// Applies a group, joined by what queues while it waits for the ledger lock; if its
/// transaction fails because of a request, each request is retried alone, so that the failure
/// is answered to that request only. A database out of reach fails every request alike, at once.
fn answer_group(
    store: &Store,
    kept: &mut Kept,
    clock: &dyn Clock,
    batch: &mut Vec<Queued>,
    join: impl FnOnce(&mut Vec<Queued>),
) -> Vec<Answer> {
    match group::apply(store, kept, clock, batch, join) {
        Ok(answers) => answers,
        Err(failure) if batch.len() == 1 => vec![Err(failure)],
        Err(ServiceError::Store(cause)) if cause.is_unavailable() => {
            let reason = cause.to_string();
            batch
                .iter()
                .map(|_| Err(ServiceError::Store(StoreError::Unavailable(reason.clone()))))
                .collect()
        }
        Err(failure) => {
            tracing::warn!(error = %failure, requests = batch.len(), "group failed; applying its requests one by one");
            batch
                .iter()
                .map(|queued| {
                    group::apply(store, kept, clock, &mut vec![&queued.request], |_| ())
                        .and_then(|mut one| one.remove(0))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::service::group::tests::{assert_one_transaction, event, now, replica, store};
    use crate::store::StoreError;
    use std::time::Duration;

    /// A request queued while the writer waits for the ledger lock (held here by another
    /// replica) is answered from the same group as the one it waited with, and both stop
    /// counting as waiting: the queue's capacity is given back exactly once.
    #[test]
    fn what_queues_during_the_wait_for_the_lock_is_counted_off_once() {
        let dir = tempfile::tempdir().unwrap();
        let books = store(dir.path(), "books.db");
        let other = replica(dir.path(), "books.db");
        let writer = Writer::start(
            books.clone(),
            books.clone(),
            Arc::new(ManualClock::at(now())),
            100,
            Metrics::new(),
        );
        let (locked, lock_held) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let answers = std::thread::scope(|scope| {
            scope.spawn(move || {
                other
                    .write(|_| {
                        locked.send(()).unwrap();
                        released.recv().unwrap();
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
            });
            lock_held.recv().unwrap();
            let first = writer.submit(event(1)).unwrap();
            // Taken off the queue: the writer now waits for the lock.
            while writer.waiting.load(Ordering::SeqCst) > 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let joining = writer.submit(event(2)).unwrap();
            assert_eq!(writer.waiting.load(Ordering::SeqCst), 1);
            release.send(()).unwrap();
            [first, joining].map(|answer| answer.blocking_recv().unwrap().unwrap())
        });
        assert_eq!(writer.waiting.load(Ordering::SeqCst), 0);
        assert!(answers.iter().all(|results| results.len() == 1));
        assert_one_transaction(&books, 2);
    }
}
