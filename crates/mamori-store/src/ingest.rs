//! Files in, durable commits out: parse each input, batch its events and
//! rejects, and commit them with the input's progress in one manifest entry.

use std::sync::Arc;

use mamori_event::Event;
use mamori_parse::{FileSummary, ParseOptions, Rejected, Sink};

use crate::{InputProgress, Store, StoreError};

/// Whether committed progress is for this version of the input: versions
/// are compared only when both are known (local files have none).
fn same_version(p: &InputProgress, version: Option<&str>) -> bool {
    match (&p.version, version) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

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

/// Called on each event once it is durably stored (not on duplicates).
pub type Observer<'s> = Box<dyn FnMut(&Event) + 's>;

/// An ingest run over a store.
pub struct Ingest<'s> {
    observer: Option<Observer<'s>>,
    store: &'s mut Store,
    opts: ParseOptions,
    batch_events: usize,
    events: Vec<(Event, Arc<str>)>,
    dead: Vec<String>,
    inputs: Vec<InputProgress>,
    report: IngestReport,
}

/// One record of a parsed input, in parse order.
#[allow(clippy::large_enum_variant)] // nearly every record is an event: boxing them would cost an allocation each
pub enum ParsedRecord {
    /// A normalized event.
    Event(Event),
    /// A rejected record.
    Reject(Rejected),
}

/// An input parsed ahead of being committed (on another thread, say).
pub struct ParsedInput {
    /// The input's name (its checkpoint key).
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its version, when the source gives one (an S3 ETag).
    pub version: Option<String>,
    /// Its records in parse order.
    pub records: Vec<ParsedRecord>,
    /// The parser's counts.
    pub summary: FileSummary,
    /// Whether committing it records its progress in the checkpoint. False
    /// for an input that is gone once committed (a delivery spooled by
    /// `mamori serve`): a replay of it is caught by the uid check, and the
    /// checkpoint does not grow with every request.
    pub checkpoint: bool,
}

#[derive(Default)]
struct Collect(Vec<ParsedRecord>);

impl Sink for Collect {
    fn event(&mut self, event: Event) {
        self.0.push(ParsedRecord::Event(event));
    }
    fn reject(&mut self, r: Rejected) {
        self.0.push(ParsedRecord::Reject(r));
    }
}

/// Parses one input; needs no store, so it can run on any thread.
pub fn parse_input(name: &str, data: &[u8], opts: &ParseOptions) -> ParsedInput {
    let mut c = Collect::default();
    let summary = mamori_parse::parse(name, data, opts, &mut c);
    ParsedInput {
        name: name.to_owned(),
        size: data.len() as u64,
        version: None,
        records: c.0,
        summary,
        checkpoint: true,
    }
}

impl<'s> Ingest<'s> {
    /// Starts a run that commits every `batch_events` records.
    pub fn new(store: &'s mut Store, opts: ParseOptions, batch_events: usize) -> Self {
        Ingest {
            observer: None,
            store,
            opts,
            batch_events: batch_events.max(1),
            events: Vec::new(),
            dead: Vec::new(),
            inputs: Vec::new(),
            report: IngestReport::default(),
        }
    }

    /// Calls `f` on each event after the commit that makes it durable, in
    /// commit order: what runs on events (detection) never sees one that
    /// could still be lost, nor a duplicate.
    pub fn observe(&mut self, f: Observer<'s>) {
        self.observer = Some(f);
    }

    /// Whether the store already holds every record of this input, in this
    /// size and (when known) version.
    pub fn is_done(&self, name: &str, size: u64, version: Option<&str>) -> bool {
        self.store
            .progress(name)
            .is_some_and(|p| p.done && p.size == size && same_version(p, version))
    }

    /// Counts an input the caller found already stored (with [`Self::is_done`]) and did not read.
    pub fn skipped(&mut self) {
        self.report.inputs_skipped += 1;
    }

    /// Reads one input. Records an earlier, interrupted run committed are
    /// skipped; an input committed whole is not parsed again.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<Option<FileSummary>, StoreError> {
        if self.is_done(name, data.len() as u64, None) {
            self.report.inputs_skipped += 1;
            return Ok(None);
        }
        let parsed = parse_input(name, data, &self.opts);
        self.add_parsed(parsed).map(Some)
    }

    /// Commits a parsed input, batch by batch, with its progress.
    pub fn add_parsed(&mut self, input: ParsedInput) -> Result<FileSummary, StoreError> {
        let ParsedInput {
            name,
            size,
            version,
            records,
            summary,
            checkpoint,
        } = input;
        // A file that grew (an append blob) resumes; one that shrank is read again
        // (the uid check keeps that from doubling anything).
        let skip = self
            .store
            .progress(&name)
            .filter(|_| checkpoint)
            .filter(|p| p.size <= size && same_version(p, version.as_deref()))
            .map_or(0, |p| p.records);
        let origin: Arc<str> = Arc::from(name.as_str());
        let mut index = 0u64;
        for record in records {
            index += 1;
            if index <= skip {
                self.report.records_resumed += 1;
                continue;
            }
            match record {
                ParsedRecord::Event(e) => self.events.push((e, Arc::clone(&origin))),
                ParsedRecord::Reject(r) => {
                    self.report.rejected += 1;
                    self.dead.push(r.to_dead_letter_json(&name));
                }
            }
            if self.events.len() + self.dead.len() >= self.batch_events {
                let progress = checkpoint.then(|| InputProgress {
                    input: name.clone(),
                    size,
                    records: index,
                    done: false,
                    version: version.clone(),
                });
                self.flush(progress)?;
            }
        }
        self.report.inputs_read += 1;
        if checkpoint {
            self.inputs.push(InputProgress {
                input: name,
                size,
                records: index,
                done: true,
                version,
            });
        }
        Ok(summary)
    }

    fn flush(&mut self, partial: Option<InputProgress>) -> Result<(), StoreError> {
        let mut inputs = std::mem::take(&mut self.inputs);
        inputs.extend(partial);
        if self.events.is_empty() && self.dead.is_empty() && inputs.is_empty() {
            return Ok(());
        }
        let mut stored = Vec::new();
        let result = self.store.commit_marking(
            &self.events,
            &self.dead,
            inputs.clone(),
            self.opts.ingest_time,
            &mut stored,
        );
        match result {
            Ok((written, dupes)) => {
                if let Some(f) = &mut self.observer {
                    for ((e, _), new) in self.events.iter().zip(&stored) {
                        if *new {
                            f(e);
                        }
                    }
                }
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
