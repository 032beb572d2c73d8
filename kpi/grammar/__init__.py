"""The question grammar: the words people use (:mod:`.lexicon`, data in ``lexicon.yaml``), the parser that
reads them (:mod:`.parser`, the one place text becomes a query) and the queries the core answers
(:mod:`.queries`), which digests, buttons and the App Home build directly.
"""
