//! Rendering results: an aligned table, JSON (one object per row) or CSV.

pub use datafusion::arrow::array::ArrayRef;
pub use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
pub use datafusion::arrow::datatypes::SchemaRef;
pub use datafusion::arrow::error::ArrowError;

/// An aligned text table.
pub fn table(batches: &[RecordBatch]) -> Result<String, ArrowError> {
    Ok(datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}

/// One JSON object per row, null fields left out (as Insights leaves out missing fields).
pub fn json_lines(batch: &RecordBatch, out: &mut impl std::io::Write) -> Result<(), ArrowError> {
    let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
    w.write(batch)?;
    w.finish()
}

/// CSV with a header row when `header`.
pub fn csv(
    batch: &RecordBatch,
    header: bool,
    out: &mut impl std::io::Write,
) -> Result<(), ArrowError> {
    let mut w = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(header)
        .build(out);
    w.write(batch)
}

/// A column's values as text.
pub fn strings(a: &ArrayRef) -> Result<Vec<Option<String>>, ArrowError> {
    let c = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
    let s = c
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::CastError("not a string column".into()))?;
    Ok(s.iter().map(|v| v.map(str::to_owned)).collect())
}
