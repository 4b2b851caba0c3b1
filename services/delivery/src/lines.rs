//! Ordering per key in the delivery role: the first attempt of a keyed task of a
//! subscription ordered by key waits until the task just before it in its line has
//! ended (see `hookline_domain::ordering`).
//!
//! The views say where a task stands (`ViewStore::line_place`): they are the durable
//! part, so the order holds across restarts and processes. An answer is trusted only
//! once the views hold the task's own place: the projector folds a partition in log
//! order and the adapters make a line's entries visible in that order, so then every
//! task before it in its line is known too. The views fold outcomes a little after they
//! are durable; this process remembers the tasks it saw end lately, so that the task
//! behind one goes at once rather than when the views catch up, and wakes a task
//! waiting here the moment the one ahead of it ends here.
//!
//! Memory is bounded: a waiting task holds its place in the source (no more than a
//! record it polled), at most [`Lines::new`]'s `max_waiting` wait at once, and the
//! book of tasks ended lately keeps [`ENDED_REMEMBERED`]. A task that finds no room, or
//! whose turn does not come within `patience` (twice the longest retry tier's delay), is
//! deferred: written, unattempted, to the shortest tier, so it waits in the log; it
//! asks again when it comes round.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hookline_domain::{TaskId, Turn};
use hookline_views::ViewStore;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How many ended tasks this process remembers: the views fold an outcome within
/// seconds, so the latest few thousand are all that can matter.
pub const ENDED_REMEMBERED: usize = 16_384;
/// The first pause before asking the views again about a task whose place they do
/// not hold yet (the projector folds within tens of milliseconds), doubled up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between two questions to the views: how soon a task waiting here
/// learns that the task ahead of it ended in another process.
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// What a task's first attempt may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Its turn: attempt it.
    Go,
    /// The task has ended already: this record of it is done without an attempt.
    Ended,
    /// Not its turn within the patience, or no room to wait here: it waits in the log.
    Defer,
    /// Shutdown came first: the record is left for the next run.
    Stopped,
}

/// The lines of this process: who waits for whom, and who ended lately.
pub struct Lines {
    views: Arc<dyn ViewStore>,
    patience: Duration,
    max_waiting: usize,
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// Tasks that ended here lately (outcome durable), oldest first.
    ended: HashSet<TaskId>,
    ended_order: VecDeque<TaskId>,
    /// Tasks waiting here, by the task they wait for.
    waiting: HashMap<TaskId, Vec<(u64, oneshot::Sender<()>)>>,
    /// The tasks waiting here (with how many records of each: copies of a task wait too).
    waiting_tasks: HashMap<TaskId, usize>,
    waiters: usize,
    next_waiter: u64,
}

impl Book {
    fn note_ended(&mut self, task: TaskId) {
        if self.ended.insert(task) {
            self.ended_order.push_back(task);
            if self.ended_order.len() > ENDED_REMEMBERED {
                if let Some(oldest) = self.ended_order.pop_front() {
                    self.ended.remove(&oldest);
                }
            }
        }
        for (_, wake) in self.waiting.remove(&task).unwrap_or_default() {
            self.waiters -= 1;
            let _ = wake.send(());
        }
    }

    fn stop_waiting(&mut self, task: TaskId, ahead: TaskId, id: u64) {
        if let Some(waiting) = self.waiting.get_mut(&ahead) {
            let before = waiting.len();
            waiting.retain(|(waiter, _)| *waiter != id);
            self.waiters -= before - waiting.len();
            if waiting.is_empty() {
                self.waiting.remove(&ahead);
            }
        }
        if let Some(count) = self.waiting_tasks.get_mut(&task) {
            *count -= 1;
            if *count == 0 {
                self.waiting_tasks.remove(&task);
            }
        }
    }
}

/// How a wait for the task ahead ended.
enum Waited {
    /// It ended here.
    Ended,
    /// Time to ask the views again.
    AskAgain,
    /// No room to wait here.
    NoRoom,
    Stopped,
}

impl Lines {
    /// `patience`: how long a task waits here for its turn before it is deferred;
    /// `max_waiting`: how many tasks may wait here at once.
    pub fn new(views: Arc<dyn ViewStore>, patience: Duration, max_waiting: usize) -> Self {
        Self { views, patience, max_waiting, book: Mutex::new(Book::default()) }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `task` ended (its success or dead letter is durable): the task
    /// behind it, waiting here or asking later, may go.
    pub fn ended(&self, task: TaskId) {
        self.book().note_ended(task);
    }

    /// Waits until it is `task`'s turn, up to the patience: counted from when the task
    /// ahead of it is no longer waiting here too, so that a line waiting here drains at
    /// full speed however long it is (the count of waiting tasks is what is bounded).
    pub async fn turn(&self, task: TaskId, stop: &CancellationToken) -> Gate {
        let mut give_up_at = Instant::now() + self.patience;
        let mut pause = FIRST_PAUSE;
        loop {
            let turn = match self.views.line_place(task).await {
                Ok(place) => place.turn(|ahead| self.book().ended.contains(&ahead)),
                Err(e) => {
                    // Not its turn until the views say so: waiting is safe, guessing is not.
                    tracing::warn!(error = %e, "line place unreadable, asking again");
                    Turn::AskAgain
                }
            };
            if let Turn::WaitFor(ahead) = turn {
                if self.book().waiting_tasks.contains_key(&ahead) {
                    give_up_at = Instant::now() + self.patience;
                }
            }
            let left = give_up_at.saturating_duration_since(Instant::now());
            let waited = match turn {
                Turn::Go => return Gate::Go,
                Turn::Done => return Gate::Ended,
                _ if left.is_zero() => return Gate::Defer,
                Turn::AskAgain => {
                    tokio::select! {
                        _ = stop.cancelled() => Waited::Stopped,
                        _ = tokio::time::sleep(pause.min(left)) => Waited::AskAgain,
                    }
                }
                Turn::WaitFor(ahead) => self.wait_for(task, ahead, pause.min(left), stop).await,
            };
            match waited {
                Waited::Ended => return Gate::Go,
                Waited::AskAgain => pause = (pause * 2).min(LONGEST_PAUSE),
                Waited::NoRoom => return Gate::Defer,
                Waited::Stopped => return Gate::Stopped,
            }
        }
    }

    /// Waits here for `ahead`, the task just before `task`, to end, up to `wait`.
    async fn wait_for(&self, task: TaskId, ahead: TaskId, wait: Duration, stop: &CancellationToken) -> Waited {
        let (id, woken) = {
            let mut book = self.book();
            // Checked under the lock it is noted under: an end between the question to
            // the views and now is not missed.
            if book.ended.contains(&ahead) {
                return Waited::Ended;
            }
            if book.waiters >= self.max_waiting {
                return Waited::NoRoom;
            }
            let (wake, woken) = oneshot::channel();
            book.next_waiter += 1;
            let id = book.next_waiter;
            book.waiting.entry(ahead).or_default().push((id, wake));
            *book.waiting_tasks.entry(task).or_default() += 1;
            book.waiters += 1;
            (id, woken)
        };
        let waited = tokio::select! {
            _ = stop.cancelled() => Waited::Stopped,
            woke = woken => if woke.is_ok() { Waited::Ended } else { Waited::AskAgain },
            _ = tokio::time::sleep(wait) => Waited::AskAgain,
        };
        // Woken or not, it no longer waits (a woken one was taken off `waiting` already).
        self.book().stop_waiting(task, ahead, id);
        waited
    }

    /// Tasks waiting here now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.book().waiters
    }
}

#[cfg(test)]
mod tests {
    use hookline_domain::{LinePlace, LogPosition, Outcome, SubscriptionId};
    use hookline_views::embedded::EmbeddedViews;
    use hookline_views::{LineEntry, Retention, ViewChange};

    use super::*;

    struct Line {
        views: Arc<EmbeddedViews>,
        _dir: tempfile::TempDir,
        subscription: SubscriptionId,
        next_offset: u64,
    }

    impl Line {
        fn new() -> Self {
            let dir = tempfile::TempDir::new().expect("temp dir");
            let retention = Retention { ttl: Duration::from_secs(3600) };
            let views = EmbeddedViews::open(&dir.path().join("views.redb"), retention).expect("views");
            Self { views, _dir: dir, subscription: SubscriptionId::new(), next_offset: 0 }
        }

        fn lines(&self, patience: Duration, max_waiting: usize) -> Arc<Lines> {
            Arc::new(Lines::new(self.views.clone(), patience, max_waiting))
        }

        /// A task joining the line, as the projector folds it.
        async fn join(&mut self) -> TaskId {
            let task = TaskId::new();
            self.next_offset += 1;
            let entry = LineEntry {
                subscription_id: self.subscription,
                ordering_key: "k".into(),
                task_id: task,
                accepted_at: chrono::Utc::now(),
                position: LogPosition { topic: "hookline.deliveries".into(), partition: 0, offset: self.next_offset },
            };
            self.views.apply(vec![ViewChange::JoinedLine(entry)]).await.expect("apply");
            task
        }

        /// The task's success, as the projector folds it.
        async fn succeed(&self, task: TaskId) {
            let now = chrono::Utc::now();
            let attempt = hookline_domain::AttemptRecorded {
                task_id: task,
                subscription_id: self.subscription,
                attempt_number: 1,
                outcome: Outcome::Success,
                http_status: Some(200),
                error: None,
                latency_ms: 1,
                response_body: None,
                attempted_at: now,
                next_attempt_at: None,
                task_accepted_at: now,
                event_type: None,
                replay_id: None,
            };
            self.views.apply(vec![ViewChange::Attempt(attempt)]).await.expect("apply");
        }
    }

    #[tokio::test]
    async fn a_line_waiting_here_drains_at_full_speed_past_the_patience() {
        let mut line = Line::new();
        let (first, second, third) = (line.join().await, line.join().await, line.join().await);
        let lines = line.lines(Duration::from_secs(1), 8);
        let stop = CancellationToken::new();
        let wait = |task| {
            let (lines, stop) = (lines.clone(), stop.clone());
            tokio::spawn(async move { lines.turn(task, &stop).await })
        };
        let (second_turn, third_turn) = (wait(second), wait(third));
        // Past the patience the second, waiting behind a task not waiting here, is
        // deferred; the third waited behind the second, so its patience starts only now.
        assert_eq!(second_turn.await.unwrap(), Gate::Defer);
        assert!(!third_turn.is_finished());
        lines.ended(first);
        lines.ended(second);
        assert_eq!(third_turn.await.unwrap(), Gate::Go);
        assert_eq!(lines.waiting(), 0);
    }

    #[tokio::test]
    async fn the_first_of_a_line_goes_and_the_next_waits_until_it_ended_here() {
        let mut line = Line::new();
        let (first, second) = (line.join().await, line.join().await);
        let lines = line.lines(Duration::from_secs(10), 8);
        let stop = CancellationToken::new();
        assert_eq!(lines.turn(first, &stop).await, Gate::Go);

        let waiting = tokio::spawn({
            let (lines, stop) = (lines.clone(), stop.clone());
            async move { lines.turn(second, &stop).await }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines.waiting() == 0 {
            assert!(Instant::now() < deadline, "the second task never waited");
            tokio::task::yield_now().await;
        }
        let woken_at = Instant::now();
        lines.ended(first);
        assert_eq!(waiting.await.unwrap(), Gate::Go);
        assert!(woken_at.elapsed() < Duration::from_secs(1), "woken at once, not at the next question");
        assert_eq!(lines.waiting(), 0);
    }

    #[tokio::test]
    async fn an_end_seen_by_the_views_releases_the_next_and_an_ended_task_is_not_attempted_again() {
        let mut line = Line::new();
        let (first, second) = (line.join().await, line.join().await);
        line.succeed(first).await;
        let lines = line.lines(Duration::from_secs(10), 8);
        let stop = CancellationToken::new();
        assert_eq!(line.views.line_place(second).await.unwrap(), LinePlace::Behind { ahead: first, ended: true });
        assert_eq!(lines.turn(second, &stop).await, Gate::Go);
        assert_eq!(lines.turn(first, &stop).await, Gate::Ended);
    }

    #[tokio::test]
    async fn a_task_is_deferred_when_its_turn_does_not_come_or_there_is_no_room() {
        let mut line = Line::new();
        let (_first, second, third) = (line.join().await, line.join().await, line.join().await);
        let stop = CancellationToken::new();
        let patient = line.lines(Duration::from_millis(300), 8);
        let started = Instant::now();
        assert_eq!(patient.turn(second, &stop).await, Gate::Defer);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(patient.waiting(), 0, "a task deferred leaves no waiter behind");

        let crowded = line.lines(Duration::from_secs(10), 0);
        assert_eq!(crowded.turn(third, &stop).await, Gate::Defer);
        // A place the views do not hold yet is asked about again, then deferred.
        assert_eq!(patient.turn(TaskId::new(), &stop).await, Gate::Defer);
        stop.cancel();
        assert_eq!(line.lines(Duration::from_secs(10), 8).turn(third, &stop).await, Gate::Stopped);
    }
}
