"""``python -m ide``: the language server on stdio."""

from ide.server import main

main()
