"""Import-time set-up FINN needs when no Vivado is installed."""

from finn.util.settings import initialize_dummy_settings

# Some FINN modules read their settings at import; the dummy settings make them importable
# on a machine without Vivado/Vitis, which is all the flow needs for python execution,
# streamlining, HW conversion, folding and estimates.
initialize_dummy_settings()
