//! Test builders: the shared ones of `keyward_core::fixtures`.
#![allow(dead_code, unused_imports)]

pub use keyward_core::fixtures::*;
