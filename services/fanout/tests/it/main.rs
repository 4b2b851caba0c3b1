//! Black-box tests of the fan-out role on a real embedded log in a temporary directory.

mod harness;

mod expansion;
