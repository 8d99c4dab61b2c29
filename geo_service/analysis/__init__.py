"""Pure analysis functions: frames and arrays in, frames and frozen dataclasses out; no I/O."""
