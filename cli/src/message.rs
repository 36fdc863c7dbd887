//! Errors as the one line the CLI prints: each cause said once.

/// An error and its causes on one line, each said once: a cause whose text its context
/// already holds (an I/O error that the message names with its path) is not repeated.
pub(crate) fn one_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_message;

    #[test]
    fn an_os_error_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let os = io.to_string();
        // As maxl's Error::Io: the path and the source in the message, the source as cause.
        #[derive(Debug)]
        struct WithPath(std::io::Error);
        impl std::fmt::Display for WithPath {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "/r/checkpoint.safetensors.tmp: {}", self.0)
            }
        }
        impl std::error::Error for WithPath {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(WithPath(io)).context("epoch 1");
        let msg = one_message(&e);
        assert_eq!(msg, format!("epoch 1: /r/checkpoint.safetensors.tmp: {os}"));
        assert_eq!(msg.matches(&os).count(), 1);
    }
}
