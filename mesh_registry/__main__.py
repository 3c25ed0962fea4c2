import sys

from mesh_registry.cli import main

sys.exit(main())
