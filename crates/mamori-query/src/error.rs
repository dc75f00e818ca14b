//! What can go wrong with a query, said so the user can fix it.

/// A query error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query text is not valid: where and why, with the line and a caret.
    #[error("{message} at line {line}, column {column}\n{snippet}")]
    Parse {
        /// Byte offset in the query.
        offset: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// What was expected and found.
        message: String,
        /// The line and a caret under the position.
        snippet: String,
    },
    /// The query is well formed but cannot run as written (an unknown
    /// function or source, a field stats did not produce, …).
    #[error("{0}")]
    Invalid(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] mamori_store::StoreError),
    /// The engine failed while running the query.
    #[error("{0}")]
    Engine(String),
    /// The query needed more memory than its budget.
    #[error("the query needs more than its memory budget of {budget_mb} MB ({detail}); narrow the time range or the sources, add a filter, or raise --memory")]
    Memory {
        /// The budget.
        budget_mb: usize,
        /// The engine's words.
        detail: String,
    },
    /// The query was cancelled.
    #[error("the query was cancelled")]
    Cancelled,
}

impl QueryError {
    /// A parse error at byte `offset` of `text`.
    pub fn parse(text: &str, offset: usize, message: String) -> QueryError {
        let offset = offset.min(text.len());
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = text[..offset].matches('\n').count() + 1;
        let column = text[line_start..offset].chars().count() + 1;
        let snippet = format!(
            "  {}\n  {}^",
            &text[line_start..line_end],
            " ".repeat(column - 1)
        );
        QueryError::Parse {
            offset,
            line,
            column,
            message,
            snippet,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> QueryError {
        QueryError::Invalid(message.into())
    }
}
