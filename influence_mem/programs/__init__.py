"""The top layer: what every command-line program shares (help, logs, --config, shared flags)."""
