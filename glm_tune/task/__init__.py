"""What a task is, finding one by name, a user's own task files, and reading data files."""
