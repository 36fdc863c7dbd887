//! The process's resident memory, as the kernel reports it in /proc/self/status: `VmRSS` (now)
//! and `VmHWM` (the peak so far), in MiB. `None` where there is no such file (not Linux), so
//! the figures read `null` there rather than a made-up number.

/// Resident memory now (MiB).
pub fn resident_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k / 1024.0)
}

/// The peak resident memory of the process so far (MiB): what `/usr/bin/time` reports as
/// "Maximum resident set size".
pub fn peak_resident_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k / 1024.0)
}

fn status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kib(&status, field)
}

/// The value of `field` ("VmRSS:", "VmHWM:") in a /proc status text, in KiB.
fn parse_kib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let mut words = line[field.len()..].split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_of_a_status_text() {
        let text = "Name:\tmaxl-cli\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(parse_kib(text, "VmRSS:"), Some(102400.0));
        assert_eq!(parse_kib(text, "VmHWM:"), Some(204800.0));
        assert_eq!(parse_kib(text, "VmSwap:"), None);
        assert_eq!(parse_kib("VmRSS:\tlots\n", "VmRSS:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_is_at_least_what_is_resident_now() {
        let now = resident_mib().unwrap();
        let peak = peak_resident_mib().unwrap();
        assert!(now > 0.0 && peak >= now, "now {now} MiB, peak {peak} MiB");
    }
}
