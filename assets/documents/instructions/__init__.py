"""Expert instructions (versioned YAML, package data): edit the files, not the code."""
