//! A bounded in-memory cache of folded deals.
//!
//! Why: a deal's stream only grows, and deciding needs its whole folded state.
//! Replaying hundreds of events per command would make long-lived deals slow,
//! so each deal's state is kept with the stream version it reflects and is
//! brought up to date by reading only the events after that version.
//!
//! Each deal has a slot behind an async mutex: commands on one deal in this
//! process run one after another (no self-inflicted conflicts), commands on
//! different deals run in parallel. Other processes writing the same deal are
//! caught by the expected version on append.
//!
//! Eviction is least-recently-used, kept lazily: every access pushes
//! `(deal, tick)` onto a queue, and an entry is evicted only when the queue's
//! oldest record still matches the entry's latest tick. A task that still holds
//! an evicted slot finishes its command; the next command loads afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use voronka_core::{CommandId, Position, StreamVersion};
use voronka_process::{CompiledProcess, DealId, DealState};

/// The outcome of a command as the stream records it, so a retry with the
/// same command id is answered without deciding again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordedCommand {
    pub stream_version: StreamVersion,
    pub last_position: Position,
    pub events: usize,
}

/// One deal folded up to `version`.
pub(crate) struct CachedDeal {
    pub state: DealState,
    pub version: StreamVersion,
    pub last_position: Position,
    /// The definition the deal runs on; `None` until a `deal_started` event.
    pub definition: Option<Arc<CompiledProcess>>,
    /// Every command id seen on the stream (grows with the stream, like the
    /// state itself; commands without an id add nothing).
    pub commands: HashMap<CommandId, RecordedCommand>,
    /// The store's head when the stream was last read: while the head has
    /// not moved, nothing can have been appended to the stream.
    pub read_at_head: Option<Position>,
}

impl CachedDeal {
    pub fn empty() -> Self {
        Self {
            state: DealState::not_started(),
            version: StreamVersion::NONE,
            last_position: Position::START,
            definition: None,
            commands: HashMap::new(),
            read_at_head: None,
        }
    }
}

/// `None` inside means "not loaded yet" (or dropped after an error).
pub(crate) type DealSlot = Arc<tokio::sync::Mutex<Option<CachedDeal>>>;

pub(crate) struct DealCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    slots: HashMap<DealId, (DealSlot, u64)>,
    recency: VecDeque<(DealId, u64)>,
    tick: u64,
}

impl DealCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// The slot of `deal`, created empty if the deal is not cached.
    pub fn slot(&self, deal: DealId) -> DealSlot {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let slot = match inner.slots.get_mut(&deal) {
            Some((slot, last_used)) => {
                *last_used = tick;
                slot.clone()
            }
            None => {
                let slot = DealSlot::default();
                inner.slots.insert(deal, (slot.clone(), tick));
                slot
            }
        };
        inner.recency.push_back((deal, tick));
        self.evict(&mut inner);
        slot
    }

    /// How many deals are cached.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    fn evict(&self, inner: &mut CacheInner) {
        while inner.slots.len() > self.capacity {
            let Some((deal, tick)) = inner.recency.pop_front() else {
                break;
            };
            if inner
                .slots
                .get(&deal)
                .is_some_and(|(_, last)| *last == tick)
            {
                inner.slots.remove(&deal);
            }
        }
        // Stale queue records pile up for deals used again and again; rebuild
        // the queue from the live entries once it is much longer than them.
        if inner.recency.len() > 2 * self.capacity + 64 {
            let mut live: Vec<(DealId, u64)> = inner
                .slots
                .iter()
                .map(|(deal, (_, last))| (*deal, *last))
                .collect();
            live.sort_by_key(|(_, last)| *last);
            inner.recency = live.into();
        }
    }

    // A poisoned lock means a panic elsewhere; the maps are changed in single
    // steps, so they are still consistent.
    fn lock(&self) -> MutexGuard<'_, CacheInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(n: u8) -> DealId {
        DealId::from_parts(1_700_000_000_000, [n; 10])
    }

    #[test]
    fn it_should_evict_the_least_recently_used_deal_when_full() {
        let cache = DealCache::new(2);
        let first = cache.slot(deal(1));
        cache.slot(deal(2));
        // Touching deal 1 again makes deal 2 the oldest.
        assert!(Arc::ptr_eq(&first, &cache.slot(deal(1))));
        cache.slot(deal(3));
        assert_eq!(cache.len(), 2);
        assert!(Arc::ptr_eq(&first, &cache.slot(deal(1))));
    }

    #[test]
    fn it_should_keep_its_queue_bounded_when_one_deal_is_used_repeatedly() {
        let cache = DealCache::new(1);
        for _ in 0..1_000 {
            cache.slot(deal(1));
        }
        assert!(cache.lock().recency.len() <= 2 + 64 + 1);
        assert_eq!(cache.len(), 1);
    }
}
