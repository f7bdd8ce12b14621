//! Log segments, as far as a client can tell them apart. Kafka keeps a partition's log in
//! segments and rolls a new one when a batch's timestamp is more than `segment.ms` (7 days)
//! after the timestamp of the segment's first batch, or when the segment would grow past
//! `segment.bytes` (1 GiB) (`LogSegment.shouldRoll`). A client sees them in Fetch: one answer
//! holds batches of one segment only, and the aborted transactions it lists end at the first
//! offset-index entry after the data returned (an entry every `index.interval.bytes`, 4 KiB)
//! or else at the segment's end (`LocalLog.addAbortedTransactions`).
//!
//! A producer that writes records with old timestamps (a replay, a test with fixed
//! timestamps) therefore makes Kafka roll a segment at its next batch with a current
//! timestamp, such as a transaction marker: checked against Kafka 4.1.1 by
//! klamm-integration's differential suite.

/// Kafka's `segment.ms` default (`log.roll.hours` = 168).
pub const SEGMENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's `segment.bytes` default.
pub const SEGMENT_BYTES: usize = 1 << 30;
/// Kafka's `index.interval.bytes` default.
pub const INDEX_INTERVAL_BYTES: usize = 4096;

#[derive(Debug, Clone)]
struct Segment {
    /// Index of its first batch in the log.
    first: usize,
    base_offset: i64,
    /// The largest timestamp of its first batch (Kafka's `rollingBasedTimestamp`).
    rolling_timestamp: i64,
    size: usize,
    bytes_since_index_entry: usize,
    /// Offset-index entries: (last offset of the batch, its position).
    index: Vec<(i64, usize)>,
}

/// The segments of one partition's log: where each batch sits.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    segments: Vec<Segment>,
    /// Position of every batch in its segment, by batch index.
    positions: Vec<usize>,
}

impl Segments {
    /// Places the log's next batch, rolling a new segment first when Kafka would.
    pub fn append(&mut self, base_offset: i64, last_offset: i64, max_timestamp: i64, size: usize) {
        let roll = self.segments.last().is_none_or(|s| {
            s.size > 0
                && (max_timestamp.saturating_sub(s.rolling_timestamp) > SEGMENT_MS
                    || s.size > SEGMENT_BYTES.saturating_sub(size))
        });
        if roll {
            self.segments.push(Segment {
                first: self.positions.len(),
                base_offset,
                rolling_timestamp: max_timestamp,
                size: 0,
                bytes_since_index_entry: 0,
                index: Vec::new(),
            });
        }
        let Some(s) = self.segments.last_mut() else {
            return;
        };
        let position = s.size;
        if s.bytes_since_index_entry > INDEX_INTERVAL_BYTES {
            s.index.push((last_offset, position));
            s.bytes_since_index_entry = 0;
        }
        s.bytes_since_index_entry += size;
        s.size += size;
        self.positions.push(position);
    }

    /// How many segments the log has.
    pub fn count(&self) -> usize {
        self.segments.len()
    }

    fn segment_of(&self, batch: usize) -> Option<usize> {
        let i = self.segments.partition_point(|s| s.first <= batch);
        i.checked_sub(1)
    }

    /// The index of the first batch after the segment that holds `batch` (the number of
    /// batches when it is in the last segment): a Fetch reads no further.
    pub fn end_of(&self, batch: usize) -> usize {
        self.segment_of(batch)
            .and_then(|s| self.segments.get(s + 1))
            .map_or(self.positions.len(), |next| next.first)
    }

    /// The offset below which a `read_committed` Fetch that returned `fetched` bytes from
    /// `batch` on reports aborted transactions: the offset of the first index entry at or
    /// after the end of the data, else the next segment's base offset, else `log_end`.
    pub fn aborted_upper_bound(&self, batch: usize, fetched: usize, log_end: i64) -> i64 {
        let Some(s) = self.segment_of(batch) else {
            return log_end;
        };
        let end = self.positions.get(batch).copied().unwrap_or(0) + fetched;
        let seg = &self.segments[s];
        if let Some((offset, _)) = seg.index.iter().find(|(_, pos)| *pos >= end) {
            return *offset;
        }
        self.segments
            .get(s + 1)
            .map_or(log_end, |next| next.base_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_batch_much_later_than_the_segments_first_rolls_a_new_one() {
        let mut s = Segments::default();
        s.append(0, 2, NOW - SEGMENT_MS - 1, 100); // old timestamps (a replay)
        s.append(3, 4, NOW - SEGMENT_MS, 100); // as old: same segment
        assert_eq!(s.count(), 1);
        s.append(5, 5, NOW, 70); // a marker written now
        assert_eq!(s.count(), 2);
        assert_eq!((s.end_of(0), s.end_of(1), s.end_of(2)), (2, 2, 3));
        // exactly segment.ms later does not roll
        s.append(6, 6, NOW + SEGMENT_MS, 70);
        assert_eq!(s.count(), 2);
        // earlier timestamps never roll
        s.append(7, 7, 0, 70);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn a_full_segment_rolls() {
        let mut s = Segments::default();
        s.append(0, 0, NOW, SEGMENT_BYTES - 10);
        s.append(1, 1, NOW, 10);
        assert_eq!(s.count(), 1);
        s.append(2, 2, NOW, 1);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn aborted_transactions_end_at_the_next_index_entry_or_the_segment() {
        let mut s = Segments::default();
        // 3 KB batches: index entries for batches 2 (past 4 KiB) and 4, at 6 and 12 KB
        for i in 0..6 {
            s.append(i * 10, i * 10 + 9, NOW, 3_000);
        }
        // from batch 0, 3 KB read: the first entry at or after 3 KB is batch 2's (last offset 29)
        assert_eq!(s.aborted_upper_bound(0, 3_000, 60), 29);
        // from batch 1, everything up to 12 KB: batch 4's entry (position 12 KB)
        assert_eq!(s.aborted_upper_bound(1, 9_000, 60), 49);
        // past the last entry: the log end
        assert_eq!(s.aborted_upper_bound(4, 6_000, 60), 60);
        // with a later segment, its base offset
        s.append(60, 60, NOW + SEGMENT_MS + 1, 50);
        assert_eq!(s.aborted_upper_bound(5, 3_000, 61), 60);
        assert_eq!(s.aborted_upper_bound(6, 50, 61), 61);
    }
}
