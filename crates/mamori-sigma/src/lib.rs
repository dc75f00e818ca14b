//! Mamori's detection engine: [Sigma](https://sigmahq.io) rules — detections,
//! meta-filters and correlations, every modifier of Sigma 2.1 — loaded from
//! YAML, routed by log source, and run on [`mamori_event::Event`]s.
//!
//! ```
//! use std::sync::Arc;
//! use mamori_event::{Event, SourceKind, Timestamp};
//! use mamori_sigma::{LoadOptions, RuleSet, run_all};
//!
//! let rule = "title: Trail stopped\nlogsource: {product: aws, service: cloudtrail}\n\
//!             detection:\n  sel:\n    eventName: StopLogging\n  condition: sel\nlevel: high\n";
//! let rules = Arc::new(RuleSet::load_texts(vec![("r.yml".into(), rule.into())], &LoadOptions::default()));
//! let e = Event::new(SourceKind::Cloudtrail, Timestamp(0), r#"{"eventName":"StopLogging"}"#.into());
//! let found = run_all(rules, [&e]);
//! assert_eq!(found[0].title, "Trail stopped");
//! ```
//!
//! The same [`Detector`] runs on the stream (holding correlation input back
//! by a lateness bound) and over the store (a hunt), so both find the same.

mod condition;
mod correlation;
mod detector;
mod doc;
mod legacy;
mod lint;
mod load;
mod prefilter;
mod rule;
mod ruleset;
pub mod ruletest;
mod value;
mod view;

pub use condition::Cond;
pub use correlation::{parse_timespan, CorrelationKind, CorrelationRule, Threshold};
pub use detector::{count_by_rule, run_all, Detection, Detector, DetectorState, DetectorStats};
pub use load::{rule_files, DetectionRule, LoadOptions, LoadReport, RuleIssue, ValueList};
pub use rule::{CompiledDetection, LogSource, RuleMeta};
pub use ruleset::{sources_for, RuleSet};
pub use value::{Cmp, TimePart, MODIFIERS};
pub use view::{EventView, FieldValue};
