//! Reading the deployment's settings: the environment as one function from a name to its
//! value (Worker vars and secrets on the edge, a map in tests), and one reading of a value.

/// Reads a Worker var or secret by name; empty values count as absent.
pub type EnvVars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads one setting: trimmed, empty treated as absent.
pub fn setting(env: EnvVars<'_>, name: &str) -> Option<String> {
    env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
