"""llama3_core."""
