import sys
from pathlib import Path

# the rtl test helpers (harness, memfiles, finn_ref) are plain modules in this folder
sys.path.insert(0, str(Path(__file__).resolve().parent))
