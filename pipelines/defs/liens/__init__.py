"""Link checking of the open aids' pages: the ``liens`` asset and its warning check."""
