"""Where the reference corpus is: the project's own copy in tests/data/corpus (Porcupine's test data, MIT, with its
licence beside it), or $SPLITBRAIN_CORPUS to check another copy."""

import os
from pathlib import Path

CORPUS = Path(os.environ.get("SPLITBRAIN_CORPUS") or Path(__file__).resolve().parent / "data" / "corpus")
