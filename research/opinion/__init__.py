"""The rising-issue detector's evaluation: synthetic replays over the real messages, and their figures."""
