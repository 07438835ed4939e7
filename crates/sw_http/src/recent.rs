//! The last few motion records, for `/api/events`: a bounded ring the service pushes into and
//! the server reads from.
//!
//! Owns: [`RecentEvents`] and its overload policy (the oldest record goes). Does not own: the
//! durable record of events (the events file, the audit log, the sinks): this ring forgets.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sw_core::{CameraId, MotionEvent};

/// A reasonable ring size: a few minutes of a busy site's records, a few hundred KiB.
pub const DEFAULT_RECENT_EVENTS: NonZeroUsize = NonZeroUsize::new(512).expect("512 is not 0");

/// The most recent motion records (`start`, `update` and `end` alike), across cameras. Cloning
/// gives another handle on the same ring. Pushing takes a short lock and never waits on a
/// reader for longer than it takes to copy the ring's records out.
#[derive(Clone)]
pub struct RecentEvents(Arc<Mutex<Ring>>);

struct Ring {
    capacity: usize,
    /// Oldest first.
    events: VecDeque<MotionEvent>,
}

impl fmt::Debug for RecentEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.lock();
        f.debug_struct("RecentEvents")
            .field("len", &ring.events.len())
            .field("capacity", &ring.capacity)
            .finish()
    }
}

impl Default for RecentEvents {
    fn default() -> Self {
        Self::new(DEFAULT_RECENT_EVENTS)
    }
}

impl RecentEvents {
    /// A ring holding at most `capacity` records.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self(Arc::new(Mutex::new(Ring {
            capacity: capacity.get(),
            events: VecDeque::with_capacity(capacity.get()),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records the ring keeps.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// Adds `event`; when the ring is full the oldest record goes (overload policy: forget the
    /// oldest, never block the service).
    pub fn push(&self, event: MotionEvent) {
        let mut ring = self.lock();
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
    }

    /// Up to `limit` records, newest first, of `camera` only when given.
    pub fn latest(&self, camera: Option<&CameraId>, limit: usize) -> Vec<MotionEvent> {
        self.lock()
            .events
            .iter()
            .rev()
            .filter(|event| camera.is_none_or(|camera| &event.camera == camera))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sw_core::{EVENT_SCHEMA, EventPhase, MotionGrid};

    use super::*;

    fn event(camera: &str, event_id: u64) -> MotionEvent {
        MotionEvent {
            schema: EVENT_SCHEMA.to_owned(),
            camera: CameraId::new(camera).unwrap(),
            event_id,
            phase: EventPhase::Start,
            frame_seq: event_id * 10,
            time_millis: event_id * 1000,
            start_millis: event_id * 1000,
            end_millis: None,
            zones: Vec::new(),
            score: 0.1,
            peak_score: 0.1,
            boxes: Vec::new(),
            grid: MotionGrid {
                cols: 1,
                rows: 1,
                cells_percent: vec![10],
            },
        }
    }

    fn ids(events: &[MotionEvent]) -> Vec<(String, u64)> {
        events
            .iter()
            .map(|event| (event.camera.to_string(), event.event_id))
            .collect()
    }

    #[test]
    fn keeps_the_newest_records_and_filters_by_camera() {
        let ring = RecentEvents::new(NonZeroUsize::new(3).unwrap());
        for (camera, id) in [("a", 1), ("b", 1), ("a", 2), ("a", 3)] {
            ring.push(event(camera, id));
        }
        let a = CameraId::new("a").unwrap();
        let c = CameraId::new("c").unwrap();
        let s = |camera: &str, id: u64| (camera.to_owned(), id);
        // camera, limit, expected (newest first)
        let table = [
            (None, 10, vec![s("a", 3), s("a", 2), s("b", 1)]),
            (None, 2, vec![s("a", 3), s("a", 2)]),
            (Some(&a), 10, vec![s("a", 3), s("a", 2)]),
            (Some(&c), 10, vec![]),
            (None, 0, vec![]),
        ];
        for (camera, limit, expected) in table {
            assert_eq!(
                ids(&ring.latest(camera, limit)),
                expected,
                "{camera:?} {limit}"
            );
        }
        assert_eq!(ring.capacity(), 3);
    }
}
