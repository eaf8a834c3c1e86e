import sys

from leanconv.cli import main

sys.exit(main())
