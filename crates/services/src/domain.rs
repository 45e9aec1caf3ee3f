//! The domain types, from the `domain` crate, and the collector that turns several
//! refused parses into one 422.

pub use ::domain::{Email, Id, Password, TaskDescription, TaskPatch, TaskTitle, Username};

use crate::FieldError;

/// The errors among the parses of one request, in field order.
pub fn refusals<const N: usize>(errors: [Option<FieldError>; N]) -> Vec<FieldError> {
    errors.into_iter().flatten().collect()
}

/// Collects the field errors of several parses into one `Validation` error.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Keeps the value, or remembers the error and returns `None`.
    pub fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Remembers an error.
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// `Ok` if nothing failed.
    pub fn finish(self) -> Result<(), crate::ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::ServiceError::Validation(self.0))
        }
    }
}
