//! Domain types: values parsed once from what a client sends, carrying the rules that make
//! them valid, so the code that receives one never checks it again.

pub mod identity;
pub mod text;
