//! Integration tests of maxl-rs live in this crate's `tests/` folder; the library is empty.
