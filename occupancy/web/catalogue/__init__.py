"""The text tables of the pages, one module per family of pages (read through ``web.texts``)."""
