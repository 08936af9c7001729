import sys

from contactcenter.cli import main

sys.exit(main())
