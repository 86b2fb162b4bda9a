import sys

from hf_ambiguity.cli import main

sys.exit(main())
