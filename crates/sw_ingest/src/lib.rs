//! sw_ingest (being built).
