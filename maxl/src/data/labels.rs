//! Checks on label vectors shared by the data set, its label hierarchy and the file readers.

/// The first label outside `0..classes`, with its index.
pub(crate) fn out_of_range(labels: &[i64], classes: usize) -> Option<(usize, i64)> {
    labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l < 0 || l as u64 >= classes as u64)
        .map(|(i, &l)| (i, l))
}
