//! sw_motion (being built).
