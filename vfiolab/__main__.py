import sys
from vfiolab.cli import main

sys.exit(main())
