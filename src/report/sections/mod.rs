//! The report's sections, one module each, in page order. A new section is a module here with
//! its data type, its `gather` (its SQL) and its [`Section`](super::Section) implementation (how
//! it draws), and one line in [`ALL`].

pub mod dags;
pub mod headline;
pub mod health;
pub mod not_running;
pub mod open_alerts;
pub mod promises;
pub mod validation;

use super::section::Gather;

/// Every section, in the order it is read and drawn.
pub const ALL: &[Gather] = &[
    headline::gather,
    not_running::gather,
    open_alerts::gather,
    promises::gather,
    dags::gather,
    validation::gather,
    health::gather,
];
