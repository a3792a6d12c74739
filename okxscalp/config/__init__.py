"""Config: YAML loading, validation with key paths, and the one ParameterProvider."""
