"""Reports: statistics, comparison curves and summaries, the leaderboard, Rosenbrock figures and
the transfer protocol. Everything here reads results; nothing here decides a reward."""
