import sys

from muskie.cli.main import main

sys.exit(main())
