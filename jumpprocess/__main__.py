import sys

from .cli import main

if __name__ == "__main__":  # importing this module (e.g. to document it) must not run the CLI
    sys.exit(main())
