//! The events waiting for the log server, bounded: when it is slow or down
//! the oldest go first, and how many went is told with the next batch
//! that arrives (`"dropped":N` on its first line), so the server knows
//! its picture has a gap.
//!
//! The kept file (`report.pending`) is the same lines, oldest first; a
//! line `{"dropped":N}` in it carries a count not yet told.

use std::collections::VecDeque;

use crate::json;

/// Events held at once: a run has about ten, many more with
/// `prm.remote.debug`; room for a few runs' worth.
const MAX_EVENTS: usize = 256;
/// Events in one POST.
const BATCH: usize = 64;
/// The kept file holds at most MAX_EVENTS lines of at most ~1.3 KiB.
pub(crate) const MAX_KEPT_BYTES: u64 = 512 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Queue {
    waiting: VecDeque<String>,
    /// Taken by the sender, not yet known to be delivered.
    in_flight: Vec<String>,
    in_flight_dropped: u64,
    /// Events lost, not yet told to the server.
    dropped: u64,
}

impl Queue {
    /// Adds an event; when full, the oldest waiting one is dropped (a
    /// batch in flight is at most BATCH, so something is waiting).
    pub(crate) fn push(&mut self, line: String) {
        if self.waiting.len() + self.in_flight.len() >= MAX_EVENTS {
            self.waiting.pop_front();
            self.dropped += 1;
        }
        self.waiting.push_back(line);
    }

    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Nothing waiting and nothing in flight.
    pub(crate) fn is_drained(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_empty()
    }

    /// The next batch as a request body (one line per event, each ended
    /// by a newline), held in flight until [`Queue::settle`].
    pub(crate) fn take(&mut self) -> String {
        let n = self.waiting.len().min(BATCH);
        self.in_flight = self.waiting.drain(..n).collect();
        self.in_flight_dropped = std::mem::take(&mut self.dropped);
        let mut body = String::new();
        for (i, line) in self.in_flight.iter().enumerate() {
            if i == 0 && self.in_flight_dropped > 0 {
                // Every line is an object we wrote: it ends in `}`.
                body.push_str(&line[..line.len() - 1]);
                body.push_str(&format!(",\"dropped\":{}}}", self.in_flight_dropped));
            } else {
                body.push_str(line);
            }
            body.push('\n');
        }
        body
    }

    /// The batch in flight arrived, or goes back to the front to be sent
    /// again (or kept).
    pub(crate) fn settle(&mut self, delivered: bool) {
        let batch = std::mem::take(&mut self.in_flight);
        let dropped = std::mem::take(&mut self.in_flight_dropped);
        if delivered {
            return;
        }
        self.dropped += dropped;
        for line in batch.into_iter().rev() {
            self.waiting.push_front(line);
        }
        // Events that came meanwhile may have filled the queue up.
        while self.waiting.len() > MAX_EVENTS {
            self.waiting.pop_front();
            self.dropped += 1;
        }
    }

    /// What is not known to be delivered, as the kept file: empty when
    /// nothing is left. A batch in flight counts as not delivered (it may
    /// yet arrive: the server may then see it twice, never not at all).
    pub(crate) fn kept(&self) -> String {
        let dropped = self.dropped + self.in_flight_dropped;
        let mut out = String::new();
        if dropped > 0 {
            out.push_str(&format!("{{\"dropped\":{dropped}}}\n"));
        }
        for line in self.in_flight.iter().chain(&self.waiting) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// The queue of a kept file, and the highest `seq` in it. A line that
    /// is not an event object (a damaged file) counts as dropped.
    pub(crate) fn from_kept(text: &str) -> (Queue, u64) {
        let mut q = Queue::default();
        let mut last_seq = 0;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let doc = json::parse(line.as_bytes()).ok();
            let doc = doc.as_ref().filter(|d| d.as_object().is_some());
            match doc.map(|d| (d.get("event"), d.get("dropped").and_then(|n| n.as_u64()))) {
                Some((Some(_), _)) => {
                    let seq = doc.and_then(|d| d.get("seq")).and_then(|s| s.as_u64());
                    last_seq = last_seq.max(seq.unwrap_or(0));
                    q.push(line.to_string());
                }
                Some((None, Some(n))) => q.dropped = q.dropped.saturating_add(n),
                _ => q.dropped += 1,
            }
        }
        (q, last_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> String {
        format!(r#"{{"seq":{seq},"event":"x"}}"#)
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_says_so() {
        let mut q = Queue::default();
        for seq in 1..=(MAX_EVENTS as u64 + 10) {
            q.push(ev(seq));
        }
        let body = q.take();
        let first = body.lines().next().unwrap();
        assert_eq!(first, r#"{"seq":11,"event":"x","dropped":10}"#);
        assert_eq!(body.lines().count(), BATCH);
        assert!(body.ends_with('\n'));
        q.settle(true);
        // Told once: the next batch has no count.
        assert!(!q.take().contains("dropped"));
    }

    #[test]
    fn an_undelivered_batch_goes_back_in_front() {
        let mut q = Queue::default();
        for seq in 1..=3 {
            q.push(ev(seq));
        }
        let body = q.take();
        assert_eq!(body.lines().count(), 3);
        q.push(ev(4));
        q.settle(false);
        assert_eq!(
            q.kept(),
            format!("{}\n{}\n{}\n{}\n", ev(1), ev(2), ev(3), ev(4))
        );
        assert!(!q.is_drained());
        assert_eq!(q.take().lines().count(), 4);
        q.settle(true);
        assert!(q.is_drained());
        assert_eq!(q.kept(), "");
    }

    #[test]
    fn the_bound_holds_with_a_batch_in_flight() {
        let mut q = Queue::default();
        for seq in 1..=(MAX_EVENTS as u64) {
            q.push(ev(seq));
        }
        q.take();
        for seq in 0..MAX_EVENTS as u64 {
            q.push(ev(1000 + seq));
        }
        q.settle(false);
        let kept = q.kept();
        assert_eq!(kept.lines().count(), MAX_EVENTS + 1);
        assert!(
            kept.starts_with(&format!("{{\"dropped\":{MAX_EVENTS}}}\n")),
            "{kept}"
        );
    }

    #[test]
    fn a_kept_file_reads_back() {
        let mut q = Queue::default();
        for seq in 1..=(MAX_EVENTS as u64 + 2) {
            q.push(ev(seq));
        }
        let text = format!("{}not json\n[1]\n\n", q.kept());
        let (mut again, last) = Queue::from_kept(&text);
        assert_eq!(last, MAX_EVENTS as u64 + 2);
        // 2 dropped before, and the two damaged lines.
        assert!(
            again
                .take()
                .starts_with(r#"{"seq":3,"event":"x","dropped":4}"#)
        );
    }
}
