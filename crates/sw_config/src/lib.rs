//! sw_config (being built).
