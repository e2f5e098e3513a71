"""``python -m bot …``: the command line of minsheng."""

from bot.cli.core import main

main()
