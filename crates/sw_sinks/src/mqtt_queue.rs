//! The MQTT sink's queue of events not yet acknowledged by the broker: the oldest in memory
//! (bounded), the rest spilled to a folder, one order across both.
//!
//! ```text
//!   oldest ─► [ memory: at most memory_max_events ][ spool on disk: at most max_events ] ◄─ newest
//! ```
//!
//! A new event goes to memory while the spool is empty and memory has room, and to the spool
//! otherwise, so everything in memory is older than everything on disk. Numbers come from the
//! spool's counter, so the memory part can be written out at shutdown and still sort first
//! ([`EventQueue::persist_memory`]); the next start then finds the whole queue on disk.
//!
//! Owns: where an event waits and in which order. Does not own: sending, acknowledgements or
//! windows (`mqtt_session`), the folder's file format (`spool`).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::SinkError;
use crate::spool::Spool;

#[derive(Debug)]
pub(crate) struct EventQueue {
    /// (number, payload), ascending, all older than anything in `spool`.
    memory: VecDeque<(u64, Arc<[u8]>)>,
    memory_max_events: usize,
    spool: Spool,
}

impl EventQueue {
    pub(crate) fn new(spool: Spool, memory_max_events: usize) -> Self {
        Self {
            memory: VecDeque::new(),
            memory_max_events,
            spool,
        }
    }

    /// Queues `payload` as the newest event.
    pub(crate) fn push(&mut self, payload: &[u8]) -> Result<(), SinkError> {
        if self.spool.is_empty() && self.memory.len() < self.memory_max_events {
            let seq = self.spool.allocate();
            self.memory.push_back((seq, payload.into()));
        } else {
            self.spool.push(payload)?;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.memory.len() + self.spool.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events waiting on disk.
    pub(crate) fn spilled(&self) -> usize {
        self.spool.len()
    }

    pub(crate) fn head(&self) -> Option<u64> {
        self.next_after(None)
    }

    /// The first event numbered above `after` (the oldest when `after` is `None`).
    pub(crate) fn next_after(&self, after: Option<u64>) -> Option<u64> {
        let start = after.map_or(0, |after| {
            self.memory.partition_point(|(seq, _)| *seq <= after)
        });
        match self.memory.get(start) {
            Some((seq, _)) => Some(*seq),
            None => self.spool.next_after(after),
        }
    }

    pub(crate) fn payload(&self, seq: u64) -> Result<Arc<[u8]>, SinkError> {
        match self
            .memory
            .binary_search_by_key(&seq, |(queued, _)| *queued)
        {
            Ok(at) => Ok(self.memory[at].1.clone()),
            Err(_) => self.spool.read(seq).map(Arc::from),
        }
    }

    /// Drops the oldest event (the broker acknowledged it).
    pub(crate) fn pop_head(&mut self) -> Result<(), SinkError> {
        if self.memory.pop_front().is_some() {
            return Ok(());
        }
        match self.spool.front() {
            Some(seq) => self.spool.remove(seq),
            None => Ok(()),
        }
    }

    /// Writes the events held in memory to the spool folder (numbers kept, so they stay first)
    /// and returns how many events the folder now holds.
    pub(crate) fn persist_memory(&mut self) -> Result<usize, SinkError> {
        while let Some((seq, payload)) = self.memory.pop_front() {
            self.spool.write(seq, &payload)?;
        }
        Ok(self.spool.len())
    }

    pub(crate) fn spool_dir(&self) -> &std::path::Path {
        self.spool.dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut EventQueue) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(seq) = queue.head() {
            out.push(queue.payload(seq).unwrap().to_vec());
            queue.pop_head().unwrap();
        }
        out
    }

    #[test]
    fn order_holds_across_memory_and_disk_and_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = EventQueue::new(Spool::open(dir.path(), 100, false).unwrap(), 2);
        for payload in [b"1", b"2", b"3", b"4"] {
            queue.push(payload).unwrap();
        }
        // Two in memory, two spilled.
        assert_eq!((queue.len(), queue.spilled()), (4, 2));
        // Memory drains; while the spool is non-empty, new events still go to disk.
        queue.pop_head().unwrap();
        queue.pop_head().unwrap();
        queue.push(b"5").unwrap();
        assert_eq!((queue.len(), queue.spilled()), (3, 3));
        // Walking with next_after visits them in order without removing anything.
        let mut seen = Vec::new();
        let mut cursor = None;
        while let Some(seq) = queue.next_after(cursor) {
            seen.push(queue.payload(seq).unwrap().to_vec());
            cursor = Some(seq);
        }
        assert_eq!(seen, [b"3".to_vec(), b"4".to_vec(), b"5".to_vec()]);
        assert_eq!(
            drain(&mut queue),
            [b"3".to_vec(), b"4".to_vec(), b"5".to_vec()]
        );
        // Empty spool: memory again; a shutdown writes memory out, a restart reads it back.
        queue.push(b"6").unwrap();
        queue.push(b"7").unwrap();
        queue.push(b"8").unwrap();
        assert_eq!(queue.spilled(), 1);
        assert_eq!(queue.persist_memory().unwrap(), 3);
        drop(queue);
        let mut queue = EventQueue::new(Spool::open(dir.path(), 100, false).unwrap(), 2);
        queue.push(b"9").unwrap();
        assert_eq!(
            drain(&mut queue),
            [b"6".to_vec(), b"7".to_vec(), b"8".to_vec(), b"9".to_vec()]
        );
    }
}
