import sys
from pathlib import Path

# finn_ref (single-node FINN references) is a plain module in this folder
sys.path.insert(0, str(Path(__file__).resolve().parent))
