//! (filled in by the module's issue)
