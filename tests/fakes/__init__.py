"""Stand-ins for the chat platforms the project talks to: `tests.fakes.slack`, `tests.fakes.teams`."""
