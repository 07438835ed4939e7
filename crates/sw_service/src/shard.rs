//! Sharing one fleet between replicas: `stillwatch run --shard I/N` watches only the cameras
//! that rendezvous hashing gives to replica `I` of `N`.
//!
//! Rendezvous (highest-random-weight) hashing: every replica scores every (camera, replica)
//! pair with the same hash and a camera belongs to the replica with the highest score. Each
//! replica decides alone from the camera id and `N`; no replica talks to another. Going from `N`
//! to `N + 1` replicas moves only the cameras the new replica now wins, about `1 / (N + 1)` of
//! them; no camera moves between two old replicas.
//!
//! Owns: [`Shard`], its `I/N` syntax and the ownership rule. Does not own: which cameras exist
//! (the config) or starting them (`service`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use sw_core::CameraId;

/// Replica `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why an `I/N` shard was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shard {text:?}: {reason} (write I/N, 0 <= I < N, e.g. 0/3)")]
pub struct ShardError {
    text: String,
    reason: &'static str,
}

impl Shard {
    /// Replica `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// True when this replica watches `camera`.
    pub fn owns(&self, camera: &CameraId) -> bool {
        owner(camera, self.count) == self.index
    }
}

/// The replica of `count` that watches `camera`: the one with the highest score.
fn owner(camera: &CameraId, count: u32) -> u32 {
    // Ties (equal 64-bit scores) go to the lowest index, so every replica agrees.
    (0..count)
        .max_by_key(|&replica| (score(camera, replica), std::cmp::Reverse(replica)))
        .unwrap_or(0)
}

/// The first 8 bytes of SHA-256(camera id, 0x00, replica as 4 bytes big-endian): stable across
/// builds, platforms and Rust versions, so mixed versions during an upgrade still agree.
fn score(camera: &CameraId, replica: u32) -> u64 {
    let digest = Sha256::new()
        .chain_update(camera.as_str().as_bytes())
        .chain_update([0])
        .chain_update(replica.to_be_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ShardError {
            text: text.to_owned(),
            reason,
        };
        let (index, count) = text.split_once('/').ok_or_else(|| fail("no '/'"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| fail("I is not a whole number"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| fail("N is not a whole number"))?;
        if count == 0 {
            return Err(fail("N must be at least 1"));
        }
        Shard::new(index, count).ok_or_else(|| fail("I must be smaller than N"))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cameras(count: usize) -> Vec<CameraId> {
        (0..count)
            .map(|i| CameraId::new(format!("cam-{i:04}")).unwrap())
            .collect()
    }

    #[test]
    fn shard_syntax() {
        let table = [
            ("0/1", Ok((0, 1))),
            ("2/5", Ok((2, 5))),
            (" 1 / 2 ", Ok((1, 2))),
            ("5/5", Err("I must be smaller than N")),
            ("0/0", Err("N must be at least 1")),
            ("1", Err("no '/'")),
            ("a/2", Err("I is not a whole number")),
            ("1/-2", Err("N is not a whole number")),
        ];
        for (text, expected) in table {
            let parsed = text.parse::<Shard>();
            match expected {
                Ok((index, count)) => {
                    assert_eq!(parsed, Ok(Shard { index, count }), "{text}");
                }
                Err(reason) => assert_eq!(parsed.unwrap_err().reason, reason, "{text}"),
            }
        }
        assert_eq!(
            "7/3".parse::<Shard>().unwrap_err().to_string(),
            "shard \"7/3\": I must be smaller than N (write I/N, 0 <= I < N, e.g. 0/3)"
        );
        assert_eq!(Shard::new(2, 5).unwrap().to_string(), "2/5");
    }

    #[test]
    fn every_camera_has_exactly_one_replica_and_shares_are_even() {
        let fleet = cameras(1200);
        for count in [1, 2, 3, 7] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            let mut sizes = vec![0usize; count as usize];
            for camera in &fleet {
                let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(camera)).collect();
                assert_eq!(owners.len(), 1, "{camera} with {count} replicas");
                sizes[owners[0].index as usize] += 1;
            }
            // Within 25% of an even share at 1200 cameras (the hash is uniform).
            let even = fleet.len() / count as usize;
            for size in sizes {
                assert!(
                    size.abs_diff(even) * 4 <= even,
                    "{size} vs {even} at N={count}"
                );
            }
        }
    }

    #[test]
    fn growing_the_fleet_moves_only_the_new_replicas_share() {
        let fleet = cameras(1200);
        for count in [1, 2, 4, 9] {
            let moved: Vec<&CameraId> = fleet
                .iter()
                .filter(|camera| owner(camera, count) != owner(camera, count + 1))
                .collect();
            // Every camera that moved went to the new replica.
            assert!(moved.iter().all(|camera| owner(camera, count + 1) == count));
            // About 1/(N+1) of the fleet: within 30% of that.
            let expected = fleet.len() / (count as usize + 1);
            assert!(
                moved.len().abs_diff(expected) * 10 <= expected * 3,
                "{} moved, expected about {expected} at N={count}",
                moved.len()
            );
        }
    }
}
