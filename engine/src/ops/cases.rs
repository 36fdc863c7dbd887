//! The gradcheck case registry: every family registers the cases of its ops here. The suite
//! and `maxl-cli gradcheck` run them all, and the suite checks that every
//! [`OpKind`](crate::OpKind) is recorded by some case.

pub use super::op_case::OpCase;

/// Every registered case, family by family.
pub fn all_cases() -> Vec<OpCase> {
    let mut v = super::elementwise::cases::gradcheck_cases();
    v.extend(super::reduce::cases::gradcheck_cases());
    v.extend(super::shape::cases::gradcheck_cases());
    v.extend(super::matmul::cases::gradcheck_cases());
    v.extend(super::index::cases::gradcheck_cases());
    v.extend(super::softmax::cases::gradcheck_cases());
    v.extend(super::focal::cases::gradcheck_cases());
    v.extend(super::conv::cases::gradcheck_cases());
    v.extend(super::pool::cases::gradcheck_cases());
    v.extend(super::norm::cases::gradcheck_cases());
    v.extend(super::nn::cases::gradcheck_cases());
    v
}
