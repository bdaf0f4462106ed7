"""Settings classes and role permission data; secrets only ever come from the environment."""
