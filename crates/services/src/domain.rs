//! The domain types, from the `domain` crate, and [`Parsed`], which turns the parses of one
//! request into its values or one 422 naming every refused field.

// Every domain type, and each generated resource's module (`services::domain::notes`).
pub use ::domain::*;

use crate::ServiceError;

/// The parses of one request's fields, as a tuple: `(a, b).all()?` is every value, or a
/// `Validation` error listing each field that was refused, in order.
pub trait Parsed {
    /// The tuple of the parsed values.
    type Values;

    /// Every value, or every refusal.
    fn all(self) -> Result<Self::Values, ServiceError>;
}

macro_rules! parsed_tuple {
    ($($value:ident: $ty:ident),+) => {
        impl<$($ty),+> Parsed for ($(Result<$ty, FieldError>,)+) {
            type Values = ($($ty,)+);

            fn all(self) -> Result<Self::Values, ServiceError> {
                match self {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => Err(ServiceError::Validation(
                        [$($value.err()),+].into_iter().flatten().collect(),
                    )),
                }
            }
        }
    };
}

// One to twelve fields: a generated resource has at most twelve.
parsed_tuple!(a: A);
parsed_tuple!(a: A, b: B);
parsed_tuple!(a: A, b: B, c: C);
parsed_tuple!(a: A, b: B, c: C, d: D);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H, i: I);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H, i: I, j: J);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H, i: I, j: J, k: K);
parsed_tuple!(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H, i: I, j: J, k: K, l: L);

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> Vec<String> {
        match r {
            Err(ServiceError::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_values_or_every_refused_field_in_order() {
        let ok: Result<u8, FieldError> = Ok(1);
        let bad = |f: &str| -> Result<u8, FieldError> { Err(FieldError::new(f, "no")) };
        assert!(matches!((ok.clone(), ok.clone()).all(), Ok((1, 1))));
        assert_eq!(fields((bad("a"), ok.clone(), bad("c")).all()), ["a", "c"]);
        assert_eq!(fields((ok, bad("b")).all()), ["b"]);
    }
}
