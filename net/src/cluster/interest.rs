//! The topics a cluster handle asks metadata for, and when each was last used, so that a
//! topic idle for `metadata.max.idle.ms` is forgotten (as Java's `ProducerMetadata` does):
//! it leaves the Metadata requests and the cached snapshot, and its next use fetches it again.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// Topics of interest with their last use.
#[derive(Debug)]
pub(crate) struct TopicInterest {
    max_idle: Duration,
    topics: BTreeMap<String, Instant>,
}

impl TopicInterest {
    pub(crate) fn new(max_idle: Duration) -> Self {
        TopicInterest {
            max_idle,
            topics: BTreeMap::new(),
        }
    }

    /// Marks `name` as used now; returns whether it was new.
    pub(crate) fn use_topic(&mut self, name: &str, now: Instant) -> bool {
        match self.topics.get_mut(name) {
            Some(last) => {
                *last = now;
                false
            }
            None => {
                self.topics.insert(name.to_owned(), now);
                true
            }
        }
    }

    /// Marks every known topic of `names` as used now (unknown names are ignored: using a
    /// topic the handle never asked about goes through [`use_topic`](Self::use_topic)).
    pub(crate) fn touch<'a>(&mut self, names: impl IntoIterator<Item = &'a str>, now: Instant) {
        for name in names {
            if let Some(last) = self.topics.get_mut(name) {
                *last = now;
            }
        }
    }

    /// Forgets topics idle for longer than `max_idle` and returns them; the rest are what the
    /// next Metadata request asks for ([`names`](Self::names)).
    pub(crate) fn forget_idle(&mut self, now: Instant) -> Vec<String> {
        let max_idle = self.max_idle;
        let idle: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, last)| now.saturating_duration_since(**last) > max_idle)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &idle {
            self.topics.remove(name);
        }
        idle
    }

    /// Whether `name` is a topic of interest.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.topics.contains_key(name)
    }

    /// The topics of interest, in name order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.topics.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_topics_are_forgotten_and_used_ones_kept() {
        let mut i = TopicInterest::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(i.use_topic("a", t0));
        assert!(i.use_topic("b", t0));
        assert!(!i.use_topic("a", t0), "known already");
        i.touch(["b", "never-asked"], t0 + Duration::from_secs(200));
        assert!(
            i.forget_idle(t0 + Duration::from_secs(300)).is_empty(),
            "not past it"
        );
        assert_eq!(i.forget_idle(t0 + Duration::from_secs(301)), vec!["a"]);
        assert_eq!(i.names().collect::<Vec<_>>(), vec!["b"]);
        assert!(
            i.use_topic("a", t0 + Duration::from_secs(302)),
            "asked again: new"
        );
    }
}
