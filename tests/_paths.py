"""Where the reference corpus is: ../shared/corpus beside the repository (as in CI's clone), or
$SPLITBRAIN_CORPUS."""

import os
from pathlib import Path

CORPUS = Path(os.environ.get("SPLITBRAIN_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
