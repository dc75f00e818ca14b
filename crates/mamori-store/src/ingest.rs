//! Files in, durable commits out: parse each input, batch its events and
//! rejects, and commit them with the input's progress in one manifest entry.

use std::sync::Arc;

use mamori_event::Event;
use mamori_parse::{FileSummary, ParseOptions, Rejected, Sink};

use crate::{InputProgress, Store, StoreError};

/// What an ingest run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IngestReport {
    /// Inputs parsed.
    pub inputs_read: u64,
    /// Inputs skipped because the store already holds all of them.
    pub inputs_skipped: u64,
    /// Records skipped at the start of inputs resumed after an interruption.
    pub records_resumed: u64,
    /// Events written.
    pub events_written: u64,
    /// Events dropped because their uid was already stored.
    pub duplicates: u64,
    /// Records rejected (kept in the dead-letter files).
    pub rejected: u64,
    /// Manifest entries written.
    pub commits: u64,
}

/// An ingest run over a store.
pub struct Ingest<'s> {
    store: &'s mut Store,
    opts: ParseOptions,
    batch_events: usize,
    events: Vec<(Event, Arc<str>)>,
    dead: Vec<String>,
    inputs: Vec<InputProgress>,
    report: IngestReport,
}

struct Feed<'a, 's> {
    ingest: &'a mut Ingest<'s>,
    name: &'a str,
    origin: Arc<str>,
    size: u64,
    index: u64,
    skip: u64,
    error: Option<StoreError>,
}

impl Feed<'_, '_> {
    /// Counts a record; false when it was committed before (a resumed input).
    fn take(&mut self) -> bool {
        self.index += 1;
        if self.index <= self.skip {
            self.ingest.report.records_resumed += 1;
            return false;
        }
        self.error.is_none()
    }

    fn maybe_flush(&mut self) {
        if self.ingest.events.len() + self.ingest.dead.len() >= self.ingest.batch_events {
            let progress = InputProgress {
                input: self.name.to_owned(),
                size: self.size,
                records: self.index,
                done: false,
            };
            if let Err(e) = self.ingest.flush(Some(progress)) {
                self.error = Some(e);
            }
        }
    }
}

impl Sink for Feed<'_, '_> {
    fn event(&mut self, event: Event) {
        if self.take() {
            self.ingest.events.push((event, Arc::clone(&self.origin)));
            self.maybe_flush();
        }
    }
    fn reject(&mut self, r: Rejected) {
        if self.take() {
            self.ingest.report.rejected += 1;
            self.ingest.dead.push(r.to_dead_letter_json(self.name));
            self.maybe_flush();
        }
    }
}

impl<'s> Ingest<'s> {
    /// Starts a run that commits every `batch_events` records.
    pub fn new(store: &'s mut Store, opts: ParseOptions, batch_events: usize) -> Self {
        Ingest {
            store,
            opts,
            batch_events: batch_events.max(1),
            events: Vec::new(),
            dead: Vec::new(),
            inputs: Vec::new(),
            report: IngestReport::default(),
        }
    }

    /// Whether the store already holds every record of this input.
    pub fn is_done(&self, name: &str, size: u64) -> bool {
        self.store
            .progress(name)
            .is_some_and(|p| p.done && p.size == size)
    }

    /// Counts an input the caller found already stored (with [`Self::is_done`]) and did not read.
    pub fn skipped(&mut self) {
        self.report.inputs_skipped += 1;
    }

    /// Reads one input. Records an earlier, interrupted run committed are
    /// skipped; an input committed whole is not parsed again.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<Option<FileSummary>, StoreError> {
        let size = data.len() as u64;
        if self.is_done(name, size) {
            self.report.inputs_skipped += 1;
            return Ok(None);
        }
        // A file that grew (an append blob) resumes; one that shrank is read again
        // (the uid check keeps that from doubling anything).
        let skip = self
            .store
            .progress(name)
            .filter(|p| p.size <= size)
            .map_or(0, |p| p.records);
        let opts = self.opts.clone();
        let mut feed = Feed {
            ingest: self,
            name,
            origin: Arc::from(name),
            size,
            index: 0,
            skip,
            error: None,
        };
        let summary = mamori_parse::parse(name, data, &opts, &mut feed);
        let (index, error) = (feed.index, feed.error);
        if let Some(e) = error {
            return Err(e);
        }
        self.report.inputs_read += 1;
        self.inputs.push(InputProgress {
            input: name.to_owned(),
            size,
            records: index,
            done: true,
        });
        Ok(Some(summary))
    }

    fn flush(&mut self, partial: Option<InputProgress>) -> Result<(), StoreError> {
        let mut inputs = std::mem::take(&mut self.inputs);
        inputs.extend(partial);
        if self.events.is_empty() && self.dead.is_empty() && inputs.is_empty() {
            return Ok(());
        }
        let result = self.store.commit(
            &self.events,
            &self.dead,
            inputs.clone(),
            self.opts.ingest_time,
        );
        match result {
            Ok((written, dupes)) => {
                self.report.events_written += written;
                self.report.duplicates += dupes;
                self.report.commits += 1;
                self.events.clear();
                self.dead.clear();
                Ok(())
            }
            Err(e) => {
                // Nothing was committed: keep the batch so that a retry has it.
                self.inputs = inputs.into_iter().filter(|p| p.done).collect();
                Err(e)
            }
        }
    }

    /// Commits what is pending and returns the report.
    pub fn finish(mut self) -> Result<IngestReport, StoreError> {
        self.flush(None)?;
        Ok(self.report)
    }
}
