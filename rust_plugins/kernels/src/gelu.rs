//! tanh-approximated GELU and its derivatives (filled in by the fast_gelu work).
