"""The one exception type a user of hw_bnn sees for anything they can fix."""


class HwBnnError(Exception):
    """A problem the user caused and can fix: bad config, unsupported layer, missing file or tool.

    The message says what is wrong, where (layer, node or file) and how to fix it.
    """
