"""Allow ``python -m hkticks``."""

from hkticks.cli import main

if __name__ == "__main__":
    main()
