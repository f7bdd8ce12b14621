//! Committed consumer group offsets, as the group coordinator keeps them, and the offsets of
//! transactions that are not yet committed (TxnOffsetCommit).

use std::collections::{BTreeMap, HashMap};

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: i64,
    /// Leader epoch of the committed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: Option<String>,
}

/// A transactional offset commit waiting for its transaction to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffset {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: CommittedOffset,
}

/// Committed offsets of every group.
#[derive(Debug, Default)]
pub struct GroupOffsets {
    committed: HashMap<String, BTreeMap<(String, i32), CommittedOffset>>,
}

impl GroupOffsets {
    /// Commits one offset.
    pub fn commit(&mut self, group: &str, topic: &str, partition: i32, offset: CommittedOffset) {
        self.committed
            .entry(group.to_string())
            .or_default()
            .insert((topic.to_string(), partition), offset);
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.committed
            .get(group)?
            .get(&(topic.to_string(), partition))
    }

    /// Every committed offset of a group, in (topic, partition) order.
    pub fn all(&self, group: &str) -> Vec<(String, i32, CommittedOffset)> {
        self.committed.get(group).map_or_else(Vec::new, |m| {
            m.iter()
                .map(|((t, p), o)| (t.clone(), *p, o.clone()))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_replace_and_list_in_order() {
        let mut g = GroupOffsets::default();
        let o = |offset| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
        };
        g.commit("g", "b", 0, o(5));
        g.commit("g", "a", 1, o(7));
        g.commit("g", "a", 1, o(9));
        assert_eq!(g.get("g", "a", 1).unwrap().offset, 9);
        assert!(g.get("h", "a", 1).is_none());
        let all: Vec<(String, i32, i64)> = g
            .all("g")
            .into_iter()
            .map(|(t, p, o)| (t, p, o.offset))
            .collect();
        assert_eq!(all, vec![("a".into(), 1, 9), ("b".into(), 0, 5)]);
    }
}
