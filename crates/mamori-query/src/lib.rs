//! Search Mamori's store with the CloudWatch Logs Insights language and SQL.
//!
//! A Logs Insights query is parsed ([`parser`]) into a pipeline ([`ast`]),
//! compiled ([`compile`]) into one SQL statement over the store's tables,
//! and run by DataFusion ([`engine`]) over the Parquet segments the
//! manifest lists, pruned by time and source before any file is opened.

pub mod ast;
pub mod compile;
pub mod engine;
mod error;
mod expr;
mod functions;
mod lexer;
pub mod newest;
pub mod output;
pub mod parser;
pub mod pattern;
pub mod precount;
pub mod related;
mod udf;

pub use compile::{compile, CompileOptions, Compiled};
pub use engine::{Engine, EngineOptions, QueryResult};
pub use error::QueryError;
pub use parser::parse;
