//! Grad mode: whether new ops are recorded on the tape, per thread (PyTorch's `no_grad` and
//! `set_grad_enabled`).

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True when new ops are recorded on the tape (the default).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread are not recorded (PyTorch's `torch.no_grad()`).
pub struct NoGradGuard {
    prev: bool,
}

/// Turns recording off on this thread until the guard is dropped.
pub fn no_grad() -> NoGradGuard {
    set_grad_enabled(false)
}

/// Sets recording on or off on this thread until the guard is dropped.
pub fn set_grad_enabled(on: bool) -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(on));
    NoGradGuard { prev }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}
