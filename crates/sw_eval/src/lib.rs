//! sw_eval (being built).
