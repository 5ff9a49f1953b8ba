"""`python -m engine <subcommand>`."""

import sys

if __name__ == "__main__":
    try:
        from engine.cli import main
    except KeyboardInterrupt:  # Ctrl-C while torch and the commands load: no traceback
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None  # engine.cli.arguments.INTERRUPTED, not loaded yet
    raise SystemExit(main())
