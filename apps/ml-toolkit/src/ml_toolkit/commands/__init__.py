"""One module per command group; each imports its heavy dependencies inside its commands."""
