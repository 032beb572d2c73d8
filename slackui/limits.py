"""Slack's limits, written once: what a message, a view and their blocks may hold.

From Slack's Block Kit and Web API references. A message that breaks one is refused whole (``invalid_blocks``),
so every builder clips or splits to these numbers rather than to numbers of its own.
"""

from __future__ import annotations

#: Blocks in a message; in a view (a modal or the App Home tab).
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
#: Characters in a section's text (and a context element's), a section field, a header, a message's ``text``.
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_TEXT = 40_000
#: Fields in a section; elements in a context block.
MAX_FIELDS = 10
MAX_ELEMENTS = 10
#: Options in a select menu or an option group; option groups in a select; characters in an option's text.
MAX_OPTIONS = 100
MAX_OPTION_GROUPS = 100
MAX_OPTION_TEXT = 75
#: Characters of a button's text.
MAX_BUTTON_TEXT = 75
#: Characters of an uploaded file's alt text.
MAX_ALT_TEXT = 1000
#: Characters a person can type in Slack's message box (a longer slash command was not typed there).
MAX_TYPED = 4000
