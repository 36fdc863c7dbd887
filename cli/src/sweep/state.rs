//! Where a run folder stands: finished (`summary.json` says complete), started (`train` wrote
//! its `config.toml`, so `--resume` continues it from its last checkpoint, or from scratch if
//! it had none yet) or fresh.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Complete,
    Started,
    Fresh,
}

/// The files of `train`'s run folder that say where a run stands.
pub const SUMMARY: &str = "summary.json";
pub const CONFIG: &str = "config.toml";

/// True if `dir/summary.json` is a complete run's summary.
pub fn is_complete(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(SUMMARY))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["status"] == "complete")
}

pub fn state(dir: &Path) -> RunState {
    if is_complete(dir) {
        RunState::Complete
    } else if dir.join(CONFIG).exists() {
        RunState::Started
    } else {
        RunState::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_config_or_nothing() {
        let dir = std::env::temp_dir().join(format!("maxl-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(state(&dir), RunState::Fresh);
        std::fs::write(dir.join(CONFIG), "epochs = 1\n").unwrap();
        assert_eq!(state(&dir), RunState::Started);
        std::fs::write(dir.join(SUMMARY), "{\"status\": \"running\"}").unwrap();
        assert_eq!(
            state(&dir),
            RunState::Started,
            "only a complete summary counts"
        );
        std::fs::write(dir.join(SUMMARY), "{\"status\": \"complete\"}").unwrap();
        assert_eq!(state(&dir), RunState::Complete);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
