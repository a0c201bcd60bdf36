//! Placeholder until the aiogram interop test lands.
