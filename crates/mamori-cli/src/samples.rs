//! The sample data set, embedded by `build.rs` from `testdata/samples/`.

include!(concat!(env!("OUT_DIR"), "/samples.rs"));
