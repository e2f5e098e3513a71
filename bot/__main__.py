"""``python -m bot …``: the command line of minsheng."""

from bot.cli import main

main()
