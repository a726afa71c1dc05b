"""The ml-toolkit command line."""
