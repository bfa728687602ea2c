//! A request's batch window: the loads asked for until its execution
//! waits on something else.
//!
//! async-graphql resolves the items of a list, and the fields of each
//! item, as futures joined inside the request's task, and each field asks
//! its loader for a key when first polled. The `DataLoader` spawns the
//! fetch of a batch at its first key, to run after a delay; on the
//! multi-threaded runtime another worker then runs it while the list is
//! still being polled, and any list that takes longer than the delay to
//! poll is split. Nor is one poll enough: a list of more than 30 items is
//! joined by `FuturesUnordered`, which yields (wakes its task, returns
//! `Pending`) every two items, so that 50 tokens take 25 polls.
//!
//! Here the fetches a poll spawns are held back while the execution has
//! woken itself (another poll follows at once), and spawned when it waits
//! on something else (a fetch, a database query) or finishes. A batch then
//! holds every key of the list, however long polling it takes, and waits
//! for no timer.

use std::{
    cell::RefCell,
    future::{Future, poll_fn},
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Wake, Waker},
};

use futures_util::future::BoxFuture;

/// A fetch the `DataLoader` spawns.
type Fetch = BoxFuture<'static, ()>;

thread_local! {
    /// The fetches spawned while this thread polls an execution inside a
    /// window; `None` outside one.
    static HELD: RefCell<Option<Vec<Fetch>>> = const { RefCell::new(None) };
}

/// The `DataLoader`'s spawner: inside a window the fetch is held back
/// until the window closes; elsewhere it is spawned at once.
pub(super) fn spawn_after_window(fetch: Fetch) {
    let now = HELD.with_borrow_mut(|held| match held {
        Some(held) => {
            held.push(fetch);
            None
        }
        None => Some(fetch),
    });
    if let Some(fetch) = now {
        tokio::spawn(fetch);
    }
}

/// One poll inside the window: `HELD` holds the window's fetches, and is
/// restored when the poll ends, even by a panic (so that no later task on
/// this thread has its fetches held).
struct Held {
    previous: Option<Vec<Fetch>>,
    restored: bool,
}

impl Held {
    fn start(fetches: Vec<Fetch>) -> Held {
        Held {
            previous: HELD.replace(Some(fetches)),
            restored: false,
        }
    }

    /// Ends the poll; the fetches held so far.
    fn finish(mut self) -> Vec<Fetch> {
        self.restored = true;
        HELD.replace(self.previous.take()).unwrap_or_default()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.restored {
            HELD.set(self.previous.take());
        }
    }
}

/// The task's waker, noting whether it was woken during a poll.
struct NoteWake {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for NoteWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// Runs `execution` in one batch window: fetches are held back while it
/// polls again at once, and spawned when it waits or finishes.
pub async fn in_window<F: Future>(execution: F) -> F::Output {
    let mut execution = pin!(execution);
    let mut held = Vec::new();
    poll_fn(move |cx: &mut Context<'_>| {
        let note = Arc::new(NoteWake {
            woken: AtomicBool::new(false),
            task: cx.waker().clone(),
        });
        let waker = Waker::from(note.clone());
        let poll = {
            let during = Held::start(std::mem::take(&mut held));
            let poll = execution.as_mut().poll(&mut Context::from_waker(&waker));
            held = during.finish();
            poll
        };
        if poll.is_ready() || !note.woken.load(Ordering::Acquire) {
            for fetch in held.drain(..) {
                tokio::spawn(fetch);
            }
        }
        poll
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        convert::Infallible,
        sync::Mutex,
        time::{Duration, Instant},
    };

    use async_graphql::dataloader::{DataLoader, Loader};
    use futures_util::{StreamExt, future::join_all, stream::FuturesUnordered};

    use super::*;

    /// Answers every key, and records the size of each batch.
    #[derive(Default)]
    struct Recording(Mutex<Vec<usize>>);

    impl Loader<u32> for Recording {
        type Value = u32;
        type Error = Infallible;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, Infallible> {
            self.0.lock().unwrap().push(keys.len());
            Ok(keys.iter().map(|&k| (k, k * 2)).collect())
        }
    }

    fn loader() -> DataLoader<Recording> {
        DataLoader::new(Recording::default(), spawn_after_window).delay(Duration::ZERO)
    }

    /// 100 items as async-graphql resolves a list of objects: each a
    /// `FuturesUnordered` of fields (which yields once all are polled),
    /// here one field that takes 50 µs before it asks for its key; the
    /// list joined by `join_all`, which yields every two such items.
    async fn list(loader: &DataLoader<Recording>) -> Vec<Option<u32>> {
        join_all((0..100).map(|key| async move {
            let mut fields: FuturesUnordered<_> = [async move {
                std::thread::sleep(Duration::from_micros(50));
                loader.load_one(key).await.unwrap_or_else(|e| match e {})
            }]
            .into_iter()
            .collect();
            fields.next().await.flatten()
        }))
        .await
    }

    fn doubled() -> Vec<Option<u32>> {
        (0..100).map(|k| Some(k * 2)).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_list_is_one_batch_however_long_and_however_many_polls_it_takes() {
        let loader = loader();
        let started = Instant::now();
        assert_eq!(in_window(list(&loader)).await, doubled());
        assert!(started.elapsed() >= Duration::from_millis(5));
        assert_eq!(*loader.loader().0.lock().unwrap(), [100]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loads_outside_a_window_are_answered_too() {
        let loader = loader();
        assert_eq!(list(&loader).await, doubled());
        assert_eq!(loader.loader().0.lock().unwrap().iter().sum::<usize>(), 100);
    }

    #[tokio::test]
    async fn a_panicking_poll_leaves_no_window_open() {
        let panicked = std::panic::catch_unwind(|| {
            let _during = Held::start(Vec::new());
            panic!("resolver bug");
        });
        assert!(panicked.is_err());
        assert!(HELD.with_borrow(Option::is_none));
        // So a load after it is fetched at once.
        assert_eq!(loader().load_one(7).await, Ok(Some(14)));
    }
}
