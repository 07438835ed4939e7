//! The bounded hand-over from a live camera to whoever analyses its frames, with a drop-oldest
//! policy: when analysis falls behind, the stalest frame goes, never the newest, and nothing
//! ever waits.
//!
//! Owns: [`FrameQueue`] and its drop count. Does not own: the consumer side (a plain crossbeam
//! receiver) or what a dropped frame means for the detector.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use sw_core::Frame;

/// The producer end of one bounded frame channel. Holds a receiver clone so that
/// [`FrameQueue::push`] can drop the oldest frame itself when the channel is full.
///
/// Cloning gives another producer end of the same channel (one consumer fed by several
/// cameras); the drop count is shared. The consumer's `recv` ends once every clone is dropped.
#[derive(Debug, Clone)]
pub struct FrameQueue {
    sender: Sender<Frame>,
    oldest: Receiver<Frame>,
    dropped: Arc<AtomicU64>,
}

impl FrameQueue {
    /// A queue holding at most `capacity` frames (at least 1) and the consumer's receiver.
    pub fn bounded(capacity: usize) -> (FrameQueue, Receiver<Frame>) {
        // Overload policy: drop the oldest frame and count it (see `push`).
        let (sender, receiver) = crossbeam_channel::bounded(capacity.max(1));
        let queue = FrameQueue {
            sender,
            oldest: receiver.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (queue, receiver)
    }

    /// Queues `frame` without waiting. When the queue is full the oldest frame is removed and
    /// counted; returns true if that happened. (The queue's own receiver keeps the channel
    /// open, so a consumer that went away just leaves the newest frames in place.)
    pub fn push(&self, frame: Frame) -> bool {
        let mut frame = frame;
        let mut dropped_older = false;
        loop {
            match self.sender.try_send(frame) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return dropped_older,
                Err(TrySendError::Full(rejected)) => {
                    frame = rejected;
                    match self.oldest.try_recv() {
                        Ok(_) => {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                            dropped_older = true;
                        }
                        // The consumer took one meanwhile: there is room now.
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => return dropped_older,
                    }
                }
            }
        }
    }

    /// Frames removed unseen because the queue was full, over all clones.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sw_core::CameraId;

    fn frame(seq: u64) -> Frame {
        Frame {
            camera: CameraId::new("q").unwrap(),
            seq,
            pts_nanos: seq,
            luma: ndarray::Array2::zeros((1, 1)),
            arrived: None,
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let (queue, receiver) = FrameQueue::bounded(2);
        // pushed seq, dropped an older frame?
        let pushes = [(0, false), (1, false), (2, true), (3, true)];
        for (seq, dropped) in pushes {
            assert_eq!(queue.push(frame(seq)), dropped, "push {seq}");
        }
        assert_eq!(queue.dropped(), 2);
        let kept: Vec<u64> = receiver.try_iter().map(|f| f.seq).collect();
        assert_eq!(kept, [2, 3]);
        assert!(!queue.push(frame(4)));
        assert_eq!(receiver.recv().unwrap().seq, 4);
    }

    #[test]
    fn zero_capacity_still_holds_one_frame() {
        let (queue, receiver) = FrameQueue::bounded(0);
        assert!(!queue.push(frame(0)));
        assert!(queue.push(frame(1)));
        assert_eq!(receiver.try_recv().unwrap().seq, 1);
    }

    #[test]
    fn consumer_sees_the_end_when_every_producer_is_gone() {
        let (queue, receiver) = FrameQueue::bounded(4);
        let second = queue.clone();
        queue.push(frame(0));
        drop(queue);
        second.push(frame(1));
        drop(second);
        let seqs: Vec<u64> = receiver.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, [0, 1]);
    }
}
