pub const SAMPLES: &[(&str, &[u8])] = &[];
